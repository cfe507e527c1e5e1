/**
 * Several processes on one store: two writers and a gc loop, each a child
 * process, started together. LAYERKIT_HEAVY_TESTS=1 makes the run longer.
 */
import { spawn } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ImageStore } from '../../src/image/index.js';
import { validateImage } from '../../src/testing/image.js';
import { tempDir } from './helpers.js';

describe('ImageStore from two processes', () => {
  const worker = join(import.meta.dirname, 'fixtures', 'store-worker.ts');

  const heavy = process.env.LAYERKIT_HEAVY_TESTS === '1';

  /** Starts workers, releases them together once all are ready, and waits for them. */
  async function runTogether(root: string, jobs: string[][]): Promise<string[]> {
    await mkdir(root, { recursive: true });
    let ready = 0;
    let release!: () => void;
    const allReady = new Promise<void>((res) => (release = res));
    const runs = jobs.map(
      (args) =>
        new Promise<string>((res, rej) => {
          const child = spawn(process.execPath, ['--import', 'tsx', worker, root, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
          let out = '';
          let err = '';
          child.stdout.on('data', (d) => {
            out += d;
            if (out.startsWith('ready\n') && !out.slice(6).includes('ready') && ++ready === jobs.length) release();
          });
          child.stderr.on('data', (d) => (err += d));
          child.on('exit', (code) => (code === 0 ? res(out) : rej(new Error(`worker ${args.join(' ')} exited ${code}: ${err}`))));
        }),
    );
    await Promise.race([allReady, Promise.all(runs)]);
    await writeFile(join(root, 'go'), '');
    return Promise.all(runs);
  }

  async function expectComplete(root: string, tags: string[]): Promise<void> {
    const store = new ImageStore(root);
    for (const tag of tags) {
      const image = await store.getImage(tag);
      const report = await validateImage(image);
      expect(report.problems, tag).toEqual([]);
    }
  }

  it('two writers and a gc loop at once: no tag is lost, gc never deletes a blob a committed image needs', async () => {
    const root = await tempDir();
    const n = heavy ? 40 : 8;
    const [, , gcRuns] = await runTogether(root, [
      ['put', 'left', String(n)],
      ['put', 'right', String(n)],
      ['gc', 'g', heavy ? '10000' : '1500'],
    ]);
    expect(Number(gcRuns?.split('\n')[1])).toBeGreaterThan(0);
    const tags = ['left', 'right'].flatMap((p) => Array.from({ length: n }, (_, i) => `${p}:${i}`));
    const listed = (await new ImageStore(root).list()).flatMap((l) => l.tags);
    expect(listed.sort()).toEqual(tags.sort());
    await expectComplete(root, tags);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
    // What gc left over from the race is unreferenced and goes on the next run; nothing referenced does.
    await new ImageStore(root).gc();
    await expectComplete(root, tags);
  });
});
