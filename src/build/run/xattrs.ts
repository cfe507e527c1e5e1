/**
 * Extended attributes with one `getfattr` run (Node has no xattr API):
 * of a list of paths, or of a whole tree (`-R`). `security.selinux` and
 * `system.*` (host labels, ACLs) are left out, as the layers module does.
 * @module
 */
import { execFile } from 'node:child_process';

/** Host path → xattrs (only paths that have some). Empty when getfattr is missing. */
export type XattrMap = Map<string, Record<string, Uint8Array>>;

/** xattrs of `paths` (symlinks not followed), in batches of 500 paths per run. */
export async function readXattrs(paths: string[]): Promise<XattrMap> {
  const result: XattrMap = new Map();
  for (let i = 0; i < paths.length; i += 500) parseInto(result, await getfattr(paths.slice(i, i + 500), false));
  return result;
}

/** xattrs of every path below `dir` (one `getfattr -R` run). */
export async function readTreeXattrs(dir: string): Promise<XattrMap> {
  const result: XattrMap = new Map();
  parseInto(result, await getfattr([dir], true));
  return result;
}

function getfattr(paths: string[], recursive: boolean): Promise<Buffer> {
  return new Promise((resolve) => {
    execFile(
      'getfattr',
      ['--absolute-names', '-P', '-h', '-d', '-m', '-', '-e', 'hex', ...(recursive ? ['-R'] : []), '--', ...paths],
      { maxBuffer: 1 << 30, encoding: 'buffer' },
      // Exit 1 when some path could not be read: what was printed is still valid.
      (_err, stdout) => resolve(Buffer.isBuffer(stdout) ? stdout : Buffer.alloc(0)),
    );
  });
}

/** getfattr writes names with `\ooo` escapes for some bytes (and for `\`). */
function unescape(bytes: Buffer): string {
  return Buffer.from(bytes.toString('latin1').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))), 'latin1').toString('utf8');
}

function parseInto(result: XattrMap, out: Buffer): void {
  let current: Record<string, Uint8Array> | undefined;
  let start = 0;
  while (start < out.length) {
    let end = out.indexOf(0x0a, start);
    if (end < 0) end = out.length;
    const line = out.subarray(start, end);
    start = end + 1;
    if (line.length === 0) continue;
    if (line.subarray(0, 8).toString('latin1') === '# file: ') {
      current = {};
      result.set(unescape(line.subarray(8)), current);
      continue;
    }
    if (!current) continue;
    const text = unescape(line);
    const eq = text.indexOf('=');
    const name = eq < 0 ? text : text.slice(0, eq);
    if (name === 'security.selinux' || name.startsWith('system.')) continue;
    const value = eq < 0 ? '' : text.slice(eq + 1);
    current[name] = value.startsWith('0x')
      ? Uint8Array.from(Buffer.from(value.slice(2), 'hex'))
      : value.startsWith('"') && value.endsWith('"')
        ? new TextEncoder().encode(value.slice(1, -1))
        : new Uint8Array(0);
  }
}
