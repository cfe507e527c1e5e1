/**
 * Shared fixtures for the image tests: small layers built from entries,
 * temporary directories, and real-tool discovery.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll } from 'vitest';
import type { Entry } from '../../src/layers/entry.js';
import { bytesSource } from '../../src/layers/entry.js';
import { layerFromEntries, type LayerFromEntriesOptions } from '../../src/layers/from-entries.js';
import type { Layer } from '../../src/layers/layer.js';

export const run = promisify(execFile);

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** A fresh temporary directory, removed after the file's tests. */
export async function tempDir(prefix = 'layerkit-image-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

const encoder = new TextEncoder();

/** A regular file entry. */
export function file(path: string, text: string, mode = 0o644): Entry {
  const bytes = encoder.encode(text);
  return { path, type: 'file', mode, uid: 0, gid: 0, mtime: 0, size: bytes.byteLength, content: bytesSource(bytes) };
}

/** A directory entry. */
export function dir(path: string, mode = 0o755): Entry {
  return { path, type: 'dir', mode, uid: 0, gid: 0, mtime: 0, size: 0 };
}

/** A symlink entry. */
export function symlink(path: string, target: string): Entry {
  return { path, type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, size: 0, linkname: target };
}

/** A gzip layer with a few files (parents included). */
export function layerOf(files: Record<string, string>, options: LayerFromEntriesOptions = {}): Layer {
  const entries: Entry[] = [];
  const parents = new Set<string>();
  for (const path of Object.keys(files)) {
    const parts = path.split('/').filter(Boolean);
    for (let i = 1; i < parts.length; i++) parents.add(`/${parts.slice(0, i).join('/')}`);
  }
  for (const p of [...parents].sort()) entries.push(dir(p));
  for (const [path, text] of Object.entries(files)) entries.push(file(path, text));
  return layerFromEntries(entries, { parallel: false, ...options });
}

/** The path of a real tool, or undefined (and a failure under CI=true). */
export async function which(tool: string): Promise<string | undefined> {
  try {
    const { stdout } = await run('sh', ['-c', `command -v ${tool}`]);
    const path = stdout.trim();
    if (path) return path;
  } catch {
    // not found
  }
  if (process.env.CI) throw new Error(`${tool} is required under CI=true but is not installed`);
  console.warn(`skipping ${tool} interop tests: ${tool} is not installed (apt-get install ${tool})`);
  return undefined;
}

/**
 * `good` with a compressed stream that breaks after its first 10 bytes
 * (`message` is the error): the layer of the "a failure leaves nothing
 * behind" tests.
 */
export function brokenLayer(good: Layer, message: string): Layer {
  return {
    mediaType: good.mediaType,
    diffId: () => good.diffId(),
    digest: () => good.digest(),
    size: () => good.size(),
    uncompressed: () => good.uncompressed(),
    async *compressed() {
      for await (const chunk of good.compressed()) {
        yield chunk.subarray(0, 10);
        break;
      }
      throw new Error(message);
    },
  };
}
