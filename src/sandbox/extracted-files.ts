/**
 * Reading one file of a layer from its extraction under the store
 * (`layers-extracted/<diffID hex>/root`, see `extracted.ts`), instead of
 * decompressing the layer up to it.
 *
 * A build after cache hits stacks the layers below its first uncached step
 * from their saved entry lists; the few file contents that step then reads
 * (`/etc/passwd` for a RUN's user, a file a copy-up left as it was) come
 * from here when the layer was extracted by an earlier RUN, as it nearly
 * always was. Whatever cannot be served exactly — no extraction, a file of
 * another size or type, a symlink on the way, a file the caller may not
 * read — is answered `undefined`, and the caller reads the layer.
 * @module
 */
import { constants } from 'node:fs';
import { lstat, open } from 'node:fs/promises';
import { join } from 'node:path';
import { digestHex, type Digest } from '../digest.js';
import { leaseExtracted } from './extracted-gc.js';
import { extractedDir } from './extracted.js';

/**
 * Opens the bytes of the regular file `path` (absolute in the layer) if it
 * can be read from the layer's extraction with exactly `size` bytes.
 *
 * @example
 * ```ts
 * const read = extractedFiles(store.root, await layer.diffId());
 * const body = await read('/etc/passwd', 1234); // undefined: read the layer instead
 * ```
 */
export type ExtractedFileReader = (path: string, size: number) => Promise<AsyncIterable<Uint8Array> | undefined>;

/**
 * A reader of the files of the layer `diffId` from the store's extraction of
 * it. The extraction is leased (a prune in another process keeps it) on the
 * first read, and used only when complete (its `meta.json` exists).
 *
 * @example
 * ```ts
 * const read = extractedFiles(store.root, diffId);
 * const body = await read('/etc/os-release', 267);
 * if (body) for await (const chunk of body) process.stdout.write(chunk);
 * ```
 */
export function extractedFiles(storeRoot: string, diffId: Digest): ExtractedFileReader {
  const base = extractedDir(storeRoot);
  let ready: Promise<string | undefined> | undefined;
  const root = () =>
    (ready ??= (async () => {
      const hex = digestHex(diffId);
      leaseExtracted(base, hex);
      const meta = await lstat(join(base, hex, 'meta.json')).catch(() => undefined);
      return meta?.isFile() ? join(base, hex, 'root') : undefined;
    })().catch(() => undefined));
  return async (path, size) => {
    const dir = await root();
    return dir === undefined ? undefined : openBeneath(dir, path, size);
  };
}

/**
 * The file at `path` below `dir`, refusing to follow a symlink anywhere on
 * the way (the layer's own links point into the image, not the host), read
 * whole into memory when small and streamed otherwise.
 */
async function openBeneath(dir: string, path: string, size: number): Promise<AsyncIterable<Uint8Array> | undefined> {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0 || parts.includes('..')) return undefined;
  let at = dir;
  for (const part of parts.slice(0, -1)) {
    at = join(at, part);
    const info = await lstat(at).catch(() => undefined);
    if (!info?.isDirectory()) return undefined;
  }
  const file = join(at, parts[parts.length - 1]!);
  let handle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.size !== size) {
      await handle.close();
      return undefined;
    }
  } catch {
    await handle.close();
    return undefined;
  }
  const opened = handle;
  return (async function* () {
    try {
      let offset = 0;
      while (offset < size) {
        const buffer = new Uint8Array(Math.min(size - offset, 1 << 20));
        const { bytesRead } = await opened.read(buffer, 0, buffer.byteLength, offset);
        if (bytesRead === 0) throw new Error(`${file}: shorter than ${size} bytes`);
        offset += bytesRead;
        yield buffer.subarray(0, bytesRead);
      }
    } finally {
      await opened.close();
    }
  })();
}
