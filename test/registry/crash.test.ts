/**
 * Crash safety of pulls: a pulling process killed with SIGKILL leaves
 * nothing a later pull mistakes for a stored blob, and that later pull
 * yields a valid image.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { temporaryPath } from '../../src/image/fs-atomic.js';
import { ImageStore } from '../../src/image/store/store.js';
import { pull, RegistryClient, type RegistryEvent } from '../../src/registry/index.js';
import { validateImage } from '../../src/testing/image.js';
import { randomImage } from './fixtures.js';
import { hasTool, startRegistry, tempDir, type RunningRegistry } from './helpers.js';

const registryTool = await hasTool('docker-registry', 'the registry crash tests (apt-get install docker-registry)');

const dirs: string[] = [];
async function dir(name: string): Promise<string> {
  const d = await tempDir(name);
  dirs.push(d);
  return d;
}

const SRC = fileURLToPath(new URL('../../src', import.meta.url));

function storedCount(root: string): number {
  try {
    return readdirSync(join(root, 'blobs', 'sha256')).length;
  } catch {
    return 0;
  }
}

/** Every file under blobs/ hashes to its name. */
async function blobsSound(root: string): Promise<string[]> {
  const names = await readdir(join(root, 'blobs', 'sha256')).catch(() => [] as string[]);
  for (const hex of names) {
    expect(createHash('sha256').update(await readFile(join(root, 'blobs', 'sha256', hex))).digest('hex')).toBe(hex);
  }
  return names;
}

/**
 * Runs a pull in a child process and kills it with SIGKILL once `blobsDone`
 * blobs are stored and another is downloading. Resolves to what it saw.
 */
async function pullAndKill(ref: string, root: string, blobsDone: number): Promise<{ killed: boolean; done: number }> {
  const script = join(await dir('child'), 'pull.mts');
  await writeFile(
    script,
    `import { ImageStore } from ${JSON.stringify(join(SRC, 'image/store/store.ts'))};
import { pull } from ${JSON.stringify(join(SRC, 'registry/index.ts'))};
await pull(${JSON.stringify(ref)}, new ImageStore(${JSON.stringify(root)}), {
  concurrency: 2,
  onEvent: (e) => { if (e.type === 'blob-done' || (e.type === 'blob-progress' && e.bytes < e.total)) process.stdout.write(e.type + '\\n'); },
});
process.stdout.write('finished\\n');
`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let done = 0;
  let killed = false;
  let buffer = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    buffer += text;
    const lines = buffer.split('\n');
    buffer = lines.pop()!;
    for (const line of lines) {
      if (line === 'blob-done') done++;
      // A blob is stored once its name is under blobs/ (its download's end event comes before that).
      if (line === 'blob-progress' && !killed && storedCount(root) >= blobsDone) {
        killed = child.kill('SIGKILL');
      }
    }
  });
  await new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return { killed, done };
}

describe.runIf(registryTool)('a pulling process killed with SIGKILL', () => {
  let reg: RunningRegistry;
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(async () => {
    await reg?.stop();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('leaves only whole blobs under their names; the next pull skips exactly those and stores a valid image', async () => {
    const image = randomImage(8, 4 * 1024);
    const ref = `${reg.host}/crash/pull:1`;
    await new RegistryClient().push(image, ref);
    const root = await dir('store');
    const { killed, done } = await pullAndKill(ref, root, 2);
    expect(killed).toBe(true);
    expect(done).toBeGreaterThanOrEqual(2);
    // What the killed process left under blobs/ is whole; a half-written blob is only ever in tmp/.
    const left = await blobsSound(root);
    expect(left.length).toBeGreaterThanOrEqual(2);
    const store = new ImageStore(root);
    expect(await store.list()).toEqual([]);
    const events: RegistryEvent[] = [];
    const result = await pull(ref, store, { onEvent: (e) => events.push(e) });
    expect(result.manifestDigest).toBe(await image.digest());
    const present = events.filter((e) => e.type === 'blob-done' && e.result === 'present').map((e) => (e as { digest: string }).digest.slice(7));
    expect(present.every((hex) => left.includes(hex))).toBe(true);
    expect((await validateImage(await store.getImage(ref))).problems).toEqual([]);
    await blobsSound(root);
    // The dead process's temporary files go with the next sweep.
    await store.gc();
    expect(await readdir(join(root, 'tmp')).catch(() => [] as string[])).toEqual([]);
  }, 120_000);

  it('a temporary file with a blob\'s exact size and bytes in tmp/ is not taken as the stored blob', async () => {
    const image = randomImage(2, 64);
    const ref = `${reg.host}/crash/staged:1`;
    await new RegistryClient().push(image, ref);
    const root = await dir('store');
    const manifest = await image.manifest();
    const layer = manifest.layers[0]!;
    const chunks: Uint8Array[] = [];
    for await (const chunk of (await image.layers())[0]!.compressed()) chunks.push(chunk);
    const bytes = Buffer.concat(chunks);
    await mkdir(join(root, 'tmp'), { recursive: true });
    await writeFile(temporaryPath(join(root, 'tmp')), bytes);
    const events: RegistryEvent[] = [];
    await pull(ref, new ImageStore(root), { onEvent: (e) => events.push(e) });
    expect(events.some((e) => e.type === 'blob-done' && e.digest === layer.digest && e.result === 'downloaded')).toBe(true);
    expect(events.some((e) => e.type === 'blob-done' && e.result === 'present')).toBe(false);
    expect((await validateImage(await new ImageStore(root).getImage(ref))).problems).toEqual([]);
  });
});
