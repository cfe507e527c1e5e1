/**
 * buildx-style export specs (`--output type=oci,dest=out.tar`) and writing
 * an image to one.
 * @module
 */
import { specFields } from '../csv.js';
import { writeDockerArchive } from './docker-archive.js';
import { InvalidOutputSpecError } from './errors.js';
import type { Image } from './image.js';
import { writeOciLayout } from './layout.js';
import { withLayerCompression } from './recompress.js';
import { parseTagReference } from './reference.js';

/**
 * A parsed export spec.
 *
 * @example
 * ```ts
 * const spec: OutputSpec = { type: 'oci', dest: 'out.tar', tar: true, names: ['me/app:1'] };
 * await writeImageOutput(image, spec);
 * const push: OutputSpec = { type: 'registry', dest: '', tar: false, names: ['localhost:5000/app:1'], push: true };
 * ```
 */
export interface OutputSpec {
  /**
   * `oci`: an OCI layout; `docker`: a docker-archive (always a tar);
   * `registry`: a push to every name; `image`: the local store under the
   * names, and a push too with `push=true` (buildx's image exporter).
   */
  type: 'oci' | 'docker' | 'registry' | 'image';
  /** Destination path (a directory when `tar` is false); empty for `registry` and `image`. */
  dest: string;
  /** Write a tar file (default true, as buildx); false for `registry` and `image`. */
  tar: boolean;
  /** Image names from `name=` (comma-separated, may repeat). */
  names: string[];
  /** Push to the names (`registry`: always; `image`: `push=true`). Absent for file exports. */
  push?: boolean;
  /** `registry.insecure=true`: the names' registries may be plain HTTP. */
  insecure?: boolean;
  /**
   * `compression=gzip|zstd|uncompressed` (`type=oci`): every layer is written
   * in it, recompressed where it is not (as BuildKit's `force-compression=true`).
   */
  compression?: 'gzip' | 'zstd' | 'uncompressed';
  /** `compression-level=N`: gzip 0–9, zstd 1–19. */
  compressionLevel?: number;
}

const KEYS = new Set(['type', 'dest', 'tar', 'name', 'push', 'registry.insecure', 'compression', 'compression-level']);
const COMPRESSIONS = new Set(['gzip', 'zstd', 'uncompressed']);

/**
 * Parses buildx's output spelling for the exporters layerkit has:
 * `type=oci,dest=DIR,tar=false`, `type=oci,dest=FILE.tar`,
 * `type=docker,dest=FILE.tar`, each with optional `name=a:1,name=b:2` (or a
 * quoted `"name=a:1,b:2"`); `type=registry,name=REF` and
 * `type=image,name=REF[,push=true]` (with `registry.insecure=true` where the
 * registry is plain HTTP and not on loopback). `type=oci` also takes
 * `compression=gzip|zstd|uncompressed` and `compression-level=N`.
 *
 * @throws {@link InvalidOutputSpecError} for an unknown type or key, a missing
 * `dest` (files) or `name` (registry), `tar=false` with `type=docker`, or a bad boolean.
 * @example
 * ```ts
 * parseOutputSpec('type=oci,dest=out,tar=false'); // { type: 'oci', dest: 'out', tar: false, names: [] }
 * parseOutputSpec('type=image,name=localhost:5000/app:1,push=true'); // { type: 'image', dest: '', tar: false, names: [...], push: true }
 * ```
 */
export function parseOutputSpec(spec: string): OutputSpec {
  let type: string | undefined;
  let dest: string | undefined;
  let tar: boolean | undefined;
  let push: boolean | undefined;
  let insecure: boolean | undefined;
  let compression: OutputSpec['compression'];
  let compressionLevel: number | undefined;
  const names: string[] = [];
  const bool = (key: string, value: string): boolean => {
    if (value !== 'true' && value !== 'false') throw new InvalidOutputSpecError(spec, `${key} must be true or false, got ${JSON.stringify(value)}`);
    return value === 'true';
  };
  // buildx reads specs as one CSV record (go-csvvalue), then key=value fields.
  for (const { key, value, raw } of specFields(spec, (reason) => new InvalidOutputSpecError(spec, reason))) {
    if (raw.trim() === '') continue;
    if (value === undefined || key === '') throw new InvalidOutputSpecError(spec, `expected key=value, got ${JSON.stringify(raw.trim())}`);
    if (!KEYS.has(key)) throw new InvalidOutputSpecError(spec, `unknown key ${JSON.stringify(key)} (known: ${[...KEYS].join(', ')})`);
    if (key === 'type') type = value;
    else if (key === 'dest') dest = value;
    else if (key === 'tar') tar = bool(key, value);
    else if (key === 'push') push = bool(key, value);
    else if (key === 'registry.insecure') insecure = bool(key, value);
    else if (key === 'compression') {
      if (!COMPRESSIONS.has(value)) throw new InvalidOutputSpecError(spec, `compression must be gzip, zstd or uncompressed, got ${JSON.stringify(value)}`);
      compression = value as OutputSpec['compression'];
    } else if (key === 'compression-level') {
      if (!/^[0-9]{1,2}$/.test(value)) throw new InvalidOutputSpecError(spec, `compression-level must be a number, got ${JSON.stringify(value)}`);
      compressionLevel = Number(value);
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
  if (type === undefined) throw new InvalidOutputSpecError(spec, 'missing type= (oci, docker, registry or image)');
  if ((compression !== undefined || compressionLevel !== undefined) && type !== 'oci') {
    throw new InvalidOutputSpecError(spec, `compression= and compression-level= are supported with type=oci only`);
  }
  const level = compressionLevel ?? 0;
  if (compressionLevel !== undefined && (compression === 'uncompressed' || (compression === 'zstd' ? level < 1 || level > 19 : level > 9))) {
    throw new InvalidOutputSpecError(spec, `compression-level ${compressionLevel} is out of range for ${compression ?? 'gzip'} (gzip 0–9, zstd 1–19)`);
  }
  if (type === 'registry' || type === 'image') {
    if (dest !== undefined || tar !== undefined) throw new InvalidOutputSpecError(spec, `type=${type} takes no dest= or tar=`);
    if (type === 'registry' && push === false) throw new InvalidOutputSpecError(spec, 'type=registry always pushes');
    const out: OutputSpec = { type, dest: '', tar: false, names, push: type === 'registry' || push === true };
    if (insecure !== undefined) out.insecure = insecure;
    return out;
  }
  if (type !== 'oci' && type !== 'docker') {
    throw new InvalidOutputSpecError(spec, `type ${JSON.stringify(type)} is not supported (oci, docker, registry or image)`);
  }
  if (push !== undefined || insecure !== undefined) throw new InvalidOutputSpecError(spec, `push= and registry.insecure= belong to type=registry and type=image`);
  if (dest === undefined || dest === '') throw new InvalidOutputSpecError(spec, 'missing dest=');
  if (dest === '-') throw new InvalidOutputSpecError(spec, 'writing to standard output is not supported');
  if (type === 'docker' && tar === false) throw new InvalidOutputSpecError(spec, 'type=docker is always a tar');
  const out: OutputSpec = { type, dest, tar: tar ?? true, names };
  if (compression !== undefined) out.compression = compression;
  if (compressionLevel !== undefined) out.compressionLevel = compressionLevel;
  return out;
}

/**
 * Writes an image where a spec says: an OCI layout directory or tar (names
 * as `io.containerd.image.name` + tag), or a docker-archive (names as
 * `RepoTags`).
 *
 * @throws {@link InvalidOutputSpecError} for `type=registry` and `type=image`, which `build()` writes.
 *
 * @example
 * ```ts
 * await writeImageOutput(image, 'type=docker,dest=app.tar,name=me/app:1');
 * ```
 */
export async function writeImageOutput(image: Image, spec: string | OutputSpec): Promise<OutputSpec> {
  const out = typeof spec === 'string' ? parseOutputSpec(spec) : spec;
  if (out.type === 'registry' || out.type === 'image') {
    // Pushing is the registry client's work, a layer above this module: build() does it.
    throw new InvalidOutputSpecError(typeof spec === 'string' ? spec : JSON.stringify(spec), `type=${out.type} is written by build() (or the registry client's push), not by writeImageOutput`);
  }
  if (out.type === 'docker') await writeDockerArchive(out.dest, { image, tags: out.names });
  else {
    const level = out.compressionLevel === undefined ? {} : { level: out.compressionLevel };
    const written = out.compression || out.compressionLevel !== undefined ? withLayerCompression(image, out.compression === 'uncompressed' ? 'none' : (out.compression ?? 'gzip'), level) : image;
    await writeOciLayout(out.dest, { image: written, tags: out.names }, { tar: out.tar });
  }
  return out;
}
