/**
 * buildx-style export specs (`--output type=oci,dest=out.tar`) and writing
 * an image to one.
 * @module
 */
import { writeDockerArchive } from './docker-archive.js';
import { InvalidOutputSpecError } from './errors.js';
import type { Image } from './image.js';
import { writeOciLayout } from './layout.js';
import { parseTagReference } from './reference.js';

/**
 * A parsed export spec.
 *
 * @example
 * ```ts
 * const spec: OutputSpec = { type: 'oci', dest: 'out.tar', tar: true, names: ['me/app:1'] };
 * await writeImageOutput(image, spec);
 * ```
 */
export interface OutputSpec {
  /** `oci`: an OCI layout; `docker`: a docker-archive (always a tar). */
  type: 'oci' | 'docker';
  /** Destination path (a directory when `tar` is false). */
  dest: string;
  /** Write a tar file (default true, as buildx). */
  tar: boolean;
  /** Image names from `name=` (comma-separated, may repeat). */
  names: string[];
}

const KEYS = new Set(['type', 'dest', 'tar', 'name']);

// Splits on commas outside double quotes, as buildx's CSV reading does.
function splitFields(spec: string): string[] {
  const fields: string[] = [];
  let current = '';
  let quoted = false;
  for (const ch of spec) {
    if (ch === '"') quoted = !quoted;
    else if (ch === ',' && !quoted) {
      fields.push(current);
      current = '';
    } else current += ch;
  }
  if (quoted) throw new InvalidOutputSpecError(spec, 'unterminated quote');
  fields.push(current);
  return fields;
}

/**
 * Parses buildx's output spelling for the exporters layerkit has:
 * `type=oci,dest=DIR,tar=false`, `type=oci,dest=FILE.tar`,
 * `type=docker,dest=FILE.tar`, each with optional `name=a:1,name=b:2` (or a
 * quoted `"name=a:1,b:2"`).
 *
 * @throws {@link InvalidOutputSpecError} for an unknown type or key, a missing
 * `dest`, `tar=false` with `type=docker`, or a bad boolean.
 * @example
 * ```ts
 * parseOutputSpec('type=oci,dest=out,tar=false'); // { type: 'oci', dest: 'out', tar: false, names: [] }
 * ```
 */
export function parseOutputSpec(spec: string): OutputSpec {
  let type: string | undefined;
  let dest: string | undefined;
  let tar: boolean | undefined;
  const names: string[] = [];
  for (const raw of splitFields(spec)) {
    const field = raw.trim();
    if (field === '') continue;
    const eq = field.indexOf('=');
    if (eq <= 0) throw new InvalidOutputSpecError(spec, `expected key=value, got ${JSON.stringify(field)}`);
    const key = field.slice(0, eq).trim().toLowerCase();
    const value = field.slice(eq + 1).trim();
    if (!KEYS.has(key)) throw new InvalidOutputSpecError(spec, `unknown key ${JSON.stringify(key)} (known: type, dest, tar, name)`);
    if (key === 'type') type = value;
    else if (key === 'dest') dest = value;
    else if (key === 'tar') {
      if (value !== 'true' && value !== 'false') throw new InvalidOutputSpecError(spec, `tar must be true or false, got ${JSON.stringify(value)}`);
      tar = value === 'true';
    } else {
      for (const name of value.split(',').map((n) => n.trim()).filter(Boolean)) {
        try {
          parseTagReference(name);
        } catch (err) {
          throw new InvalidOutputSpecError(spec, (err as Error).message);
        }
        names.push(name);
      }
    }
  }
  if (type === undefined) throw new InvalidOutputSpecError(spec, 'missing type= (oci or docker)');
  if (type !== 'oci' && type !== 'docker') {
    throw new InvalidOutputSpecError(spec, `type ${JSON.stringify(type)} is not supported (oci or docker)`);
  }
  if (dest === undefined || dest === '') throw new InvalidOutputSpecError(spec, 'missing dest=');
  if (dest === '-') throw new InvalidOutputSpecError(spec, 'writing to standard output is not supported');
  if (type === 'docker' && tar === false) throw new InvalidOutputSpecError(spec, 'type=docker is always a tar');
  return { type, dest, tar: tar ?? true, names };
}

/**
 * Writes an image where a spec says: an OCI layout directory or tar (names
 * as `io.containerd.image.name` + tag), or a docker-archive (names as
 * `RepoTags`).
 *
 * @example
 * ```ts
 * await writeImageOutput(image, 'type=docker,dest=app.tar,name=me/app:1');
 * ```
 */
export async function writeImageOutput(image: Image, spec: string | OutputSpec): Promise<OutputSpec> {
  const out = typeof spec === 'string' ? parseOutputSpec(spec) : spec;
  if (out.type === 'docker') await writeDockerArchive(out.dest, { image, repoTags: out.names });
  else await writeOciLayout(out.dest, { image, names: out.names }, { tar: out.tar });
  return out;
}
