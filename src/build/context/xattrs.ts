/**
 * Extended attributes of context files. Node has no xattr API, so they are
 * read with `getfattr` (Debian package `attr`), many files per process: one
 * `getfattr` run per batch of a few hundred paths, never one per file.
 * @module
 */
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/** Reads the extended attributes of host files (without following symlinks). */
export interface XattrReader {
  /**
   * Attributes of each path that has any; paths without attributes (or that
   * vanished) are absent from the result.
   */
  read(hostPaths: readonly string[]): Promise<Map<string, Record<string, Uint8Array>>>;
}

// Keep each command line far below ARG_MAX.
const MAX_BATCH_CHARS = 100_000;

/**
 * The `getfattr`-based reader, or undefined when `getfattr` is not on `PATH`.
 * Attribute names under `com.apple.` are dropped, as BuildKit's context
 * transfer drops them.
 *
 * @example
 * ```ts
 * const reader = await getfattrReader();
 * const attrs = await reader?.read(['/srv/app/bin/ping']); // Map { '/srv/app/bin/ping' => { 'security.capability': … } }
 * ```
 */
export async function getfattrReader(): Promise<XattrReader | undefined> {
  const tool = await which('getfattr');
  if (!tool) return undefined;
  return {
    async read(hostPaths) {
      const out = new Map<string, Record<string, Uint8Array>>();
      for (const batch of batches(hostPaths)) {
        const stdout = await runGetfattr(tool, batch);
        parseGetfattrDump(stdout, out);
      }
      return out;
    },
  };
}

function* batches(paths: readonly string[]): Generator<string[]> {
  let batch: string[] = [];
  let chars = 0;
  for (const path of paths) {
    if (batch.length > 0 && chars + path.length > MAX_BATCH_CHARS) {
      yield batch;
      batch = [];
      chars = 0;
    }
    batch.push(path);
    chars += path.length + 1;
  }
  if (batch.length > 0) yield batch;
}

function runGetfattr(tool: string, paths: string[]): Promise<Buffer> {
  const args = ['--absolute-names', '--no-dereference', '--dump', '--match=-', '--encoding=hex', '--', ...paths];
  return new Promise((resolve, reject) => {
    execFile(tool, args, { encoding: 'buffer', maxBuffer: 1 << 30 }, (err, stdout) => {
      // Exit status 1 means "some path had no attributes or vanished"; the dump is still complete.
      if (err && typeof err.code !== 'number') reject(err);
      else resolve(stdout);
    });
  });
}

/** Parses `getfattr --dump --encoding=hex` output into `out`. */
export function parseGetfattrDump(stdout: Uint8Array, out: Map<string, Record<string, Uint8Array>>): void {
  let current: Record<string, Uint8Array> | undefined;
  for (const line of splitLines(stdout)) {
    if (line.length === 0) {
      current = undefined;
      continue;
    }
    const text = Buffer.from(line).toString('latin1');
    if (text.startsWith('# file: ')) {
      const path = unquote(line.subarray(8));
      current = {};
      out.set(path, current);
      continue;
    }
    if (!current) continue;
    const eq = text.indexOf('=');
    const name = unquote(line.subarray(0, eq < 0 ? line.length : eq));
    if (name.startsWith('com.apple.')) continue;
    const hex = eq < 0 ? '' : text.slice(eq + 1).replace(/^0x/, '');
    current[name] = Uint8Array.from(Buffer.from(hex, 'hex'));
  }
  for (const [path, attrs] of out) if (Object.keys(attrs).length === 0) out.delete(path);
}

function* splitLines(bytes: Uint8Array): Generator<Uint8Array> {
  let start = 0;
  for (;;) {
    const end = bytes.indexOf(0x0a, start);
    if (end < 0) {
      if (start < bytes.length) yield bytes.subarray(start);
      return;
    }
    yield bytes.subarray(start, end);
    start = end + 1;
  }
}

/** getfattr writes `\ooo` for control characters and backslashes; bytes otherwise. */
function unquote(bytes: Uint8Array): string {
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x5c && i + 3 < bytes.length && isOctal(bytes[i + 1]) && isOctal(bytes[i + 2]) && isOctal(bytes[i + 3])) {
      out.push((bytes[i + 1]! - 0x30) * 64 + (bytes[i + 2]! - 0x30) * 8 + (bytes[i + 3]! - 0x30));
      i += 3;
    } else {
      out.push(b);
    }
  }
  return Buffer.from(out).toString('utf8');
}

function isOctal(b: number | undefined): boolean {
  return b !== undefined && b >= 0x30 && b <= 0x37;
}

async function which(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      await access(candidate, 1);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
