/**
 * Extended attributes of host files. Node has no xattr API, so they are read
 * with `getfattr` (Debian package `attr`) — the one reader every module uses:
 * directory walks, build contexts, RUN snapshots.
 *
 * What it costs is process starts, not the reading: on a busy machine one
 * `getfattr` run takes 50–200 ms to start. So:
 * - a whole tree is one `getfattr -R` run ({@link readTreeXattrs});
 * - a list of paths is cut into runs by the length of their command line
 *   (~100,000 characters, far below the kernel's limits), not by a count, and
 *   lists asked for in the same turn of the event loop share their runs
 *   ({@link getfattrReader});
 * - nothing runs for an empty list, and the `PATH` lookup that says whether
 *   `getfattr` exists is done once (per `PATH`), so a host without it costs
 *   nothing.
 * @module
 */
import { execFile } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Host path → extended attributes by full name; only paths that have some. */
export type XattrMap = Map<string, Record<string, Uint8Array>>;

/** Reads the extended attributes of many host files at once (symlinks not followed). */
export interface BatchXattrReader {
  /**
   * Attributes of each path that has any; paths without attributes (or that
   * vanished) are absent from the result.
   */
  read(hostPaths: readonly string[]): Promise<XattrMap>;
}

/** Options of the `getfattr` readers. */
export interface GetfattrOptions {
  /** Attribute names to leave out (default: none). */
  exclude?: (name: string) => boolean;
}

/** Keep each command line far below ARG_MAX (and each argument below MAX_ARG_STRLEN). */
const MAX_BATCH_CHARS = 100_000;
/** At most this many `getfattr` processes at once. */
const CONCURRENT_RUNS = 2;

/**
 * Attributes that describe the host rather than the file: the SELinux label
 * (`security.selinux`) and `system.*` (POSIX ACLs and the like). Layers leave
 * them out, as container tools do.
 *
 * @example
 * ```ts
 * await readTreeXattrs('./rootfs', { exclude: isHostXattr });
 * ```
 */
export function isHostXattr(name: string): boolean {
  return name === 'security.selinux' || name.startsWith('system.');
}

let lookup: { path: string; tool: Promise<string | undefined> } | undefined;

/**
 * The `getfattr` executable on `PATH`, or undefined; looked up once per value
 * of `PATH`.
 *
 * @example
 * ```ts
 * if (!(await findGetfattr())) console.warn('install the attr package to keep xattrs');
 * ```
 */
export function findGetfattr(): Promise<string | undefined> {
  const path = process.env.PATH ?? '';
  // Synchronous: a few access(2) calls, once; callers can then start the run without waiting for the pool.
  if (lookup?.path !== path) lookup = { path, tool: Promise.resolve(findOnPath('getfattr', path)) };
  return lookup.tool;
}

function findOnPath(tool: string, path: string): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, tool);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * The batching `getfattr` reader, or undefined when `getfattr` is not on
 * `PATH`.
 *
 * @example
 * ```ts
 * const reader = await getfattrReader({ exclude: isHostXattr });
 * const attrs = await reader?.read(['/srv/app/bin/ping']); // Map { '/srv/app/bin/ping' => { 'security.capability': … } }
 * ```
 */
export async function getfattrReader(options: GetfattrOptions = {}): Promise<BatchXattrReader | undefined> {
  const tool = await findGetfattr();
  return tool ? new GetfattrBatchReader(tool, options.exclude) : undefined;
}

/**
 * The xattrs of `dir` and everything below it, with one `getfattr -R` run
 * (symlinks are not followed; a symlink's own attributes are read). Undefined
 * when `getfattr` is not on `PATH`.
 *
 * @example
 * ```ts
 * const attrs = await readTreeXattrs('/var/lib/upper', { exclude: isHostXattr });
 * attrs?.get('/var/lib/upper/etc'); // { 'trusted.overlay.opaque': Uint8Array [0x79] }
 * ```
 */
export async function readTreeXattrs(dir: string, options: GetfattrOptions = {}): Promise<XattrMap | undefined> {
  const tool = await findGetfattr();
  if (!tool) return undefined;
  const out: XattrMap = new Map();
  parseGetfattrDump(await runGetfattr(tool, ['-R', '--', dir]), out, options.exclude);
  return out;
}

/** Requests made in one turn of the event loop are answered by the same runs. */
class GetfattrBatchReader implements BatchXattrReader {
  readonly #tool: string;
  readonly #exclude: ((name: string) => boolean) | undefined;
  #pending: Array<{ paths: readonly string[]; resolve: (map: XattrMap) => void; reject: (err: unknown) => void }> = [];

  constructor(tool: string, exclude: ((name: string) => boolean) | undefined) {
    this.#tool = tool;
    this.#exclude = exclude;
  }

  read(hostPaths: readonly string[]): Promise<XattrMap> {
    if (hostPaths.length === 0) return Promise.resolve(new Map());
    return new Promise((resolve, reject) => {
      if (this.#pending.length === 0) setImmediate(() => void this.#flush());
      this.#pending.push({ paths: hostPaths, resolve, reject });
    });
  }

  async #flush(): Promise<void> {
    const requests = this.#pending;
    this.#pending = [];
    const all = new Set<string>();
    for (const r of requests) for (const p of r.paths) all.add(p);
    const found: XattrMap = new Map();
    try {
      const batches = [...commandLineBatches(all)];
      for (let i = 0; i < batches.length; i += CONCURRENT_RUNS) {
        const dumps = await Promise.all(batches.slice(i, i + CONCURRENT_RUNS).map((batch) => runGetfattr(this.#tool, ['--', ...batch])));
        for (const dump of dumps) parseGetfattrDump(dump, found, this.#exclude);
      }
    } catch (err) {
      for (const r of requests) r.reject(err);
      return;
    }
    if (requests.length === 1) return requests[0]!.resolve(found);
    for (const r of requests) {
      const own: XattrMap = new Map();
      for (const p of r.paths) {
        const attrs = found.get(p);
        if (attrs) own.set(p, attrs);
      }
      r.resolve(own);
    }
  }
}

/** Paths grouped so that each group's command line stays under {@link MAX_BATCH_CHARS}. */
function* commandLineBatches(paths: Iterable<string>): Generator<string[]> {
  let batch: string[] = [];
  let chars = 0;
  for (const path of paths) {
    if (batch.length > 0 && chars + path.length + 1 > MAX_BATCH_CHARS) {
      yield batch;
      batch = [];
      chars = 0;
    }
    batch.push(path);
    chars += path.length + 1;
  }
  if (batch.length > 0) yield batch;
}

/**
 * One `getfattr` run: every attribute (`-m -`), values in hex, absolute names,
 * symlinks not followed. Exit status 1 means some path had no attributes,
 * could not be read or vanished; what it printed is still complete, so only a
 * run that could not start (or was killed) is an error.
 */
function runGetfattr(tool: string, args: string[]): Promise<Buffer> {
  const argv = ['--absolute-names', '--physical', '--no-dereference', '--dump', '--match=-', '--encoding=hex', ...args];
  return new Promise((resolve, reject) => {
    execFile(tool, argv, { encoding: 'buffer', maxBuffer: 1 << 30 }, (err, stdout) => {
      if (err && typeof err.code !== 'number') reject(err);
      else resolve(stdout);
    });
  });
}

/**
 * Parses `getfattr --dump --encoding=hex` output into `out` (host path →
 * attributes), leaving out names `exclude` picks and paths left with none.
 *
 * @example
 * ```ts
 * const out: XattrMap = new Map();
 * parseGetfattrDump(Buffer.from('# file: /a\nuser.k=0x6869\n\n'), out);
 * out.get('/a'); // { 'user.k': Uint8Array [0x68, 0x69] }
 * ```
 */
export function parseGetfattrDump(stdout: Uint8Array, out: XattrMap, exclude?: (name: string) => boolean): void {
  let current: Record<string, Uint8Array> | undefined;
  let currentPath = '';
  const finish = (): void => {
    if (current && Object.keys(current).length === 0) out.delete(currentPath);
    current = undefined;
  };
  let start = 0;
  while (start < stdout.length) {
    let end = stdout.indexOf(0x0a, start);
    if (end < 0) end = stdout.length;
    const line = stdout.subarray(start, end);
    start = end + 1;
    if (line.length === 0) {
      finish();
      continue;
    }
    if (startsWithFileHeader(line)) {
      finish();
      currentPath = unescapeOctal(line.subarray(8));
      current = out.get(currentPath) ?? {};
      out.set(currentPath, current);
      continue;
    }
    if (!current) continue;
    const eq = line.indexOf(0x3d); // '='
    const name = unescapeOctal(eq < 0 ? line : line.subarray(0, eq));
    if (exclude?.(name)) continue;
    // defineProperty: a name like `__proto__` must become an ordinary key.
    Object.defineProperty(current, name, { value: eq < 0 ? new Uint8Array(0) : decodeValue(line.subarray(eq + 1)), enumerable: true, writable: true, configurable: true });
  }
  finish();
}

const FILE_HEADER = [0x23, 0x20, 0x66, 0x69, 0x6c, 0x65, 0x3a, 0x20]; // '# file: '

function startsWithFileHeader(line: Uint8Array): boolean {
  if (line.length < FILE_HEADER.length) return false;
  for (let i = 0; i < FILE_HEADER.length; i++) if (line[i] !== FILE_HEADER[i]) return false;
  return true;
}

/** `0x…` (hex, as asked for), or a `"…"` text value as older versions print for text. */
function decodeValue(raw: Uint8Array): Uint8Array {
  const text = Buffer.from(raw).toString('latin1');
  if (text.startsWith('0x')) return Uint8Array.from(Buffer.from(text.slice(2), 'hex'));
  if (text.startsWith('"') && text.endsWith('"') && text.length >= 2) return Uint8Array.from(Buffer.from(unescapeOctal(raw.subarray(1, -1)), 'utf8'));
  return new Uint8Array(0);
}

/** getfattr writes `\ooo` for control characters, bytes it finds unprintable and `\` itself. */
function unescapeOctal(bytes: Uint8Array): string {
  if (!bytes.includes(0x5c)) return Buffer.from(bytes).toString('utf8');
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x5c && i + 3 < bytes.length && isOctal(bytes[i + 1]) && isOctal(bytes[i + 2]) && isOctal(bytes[i + 3])) {
      out.push(((bytes[i + 1]! - 0x30) << 6) | ((bytes[i + 2]! - 0x30) << 3) | (bytes[i + 3]! - 0x30));
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
