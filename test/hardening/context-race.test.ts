/**
 * Context files swapped for symlinks (and back) by another process while a
 * COPY reads them: each build either succeeds or fails with the typed
 * `CONTEXT_CHANGED` error naming the file — never a bare readlink/open
 * failure, and never bytes from outside the context.
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { build } from '../../src/builder/build.js';
import { LayerkitError } from '../../src/errors.js';
import { layerMembers } from '../builder/helpers.js';
import { cli, crashed, exited, removeAll, scratch } from './helpers.js';

const cleanup: string[] = [];
afterEach(async () => removeAll(...cleanup.splice(0)));

const FILES = 200;

/** A process that keeps replacing every context file by a symlink to a secret outside, then putting it back. */
function swapper(dir: string, secret: string) {
  const code = `
    const fs = require('node:fs');
    const path = require('node:path');
    const dir = ${JSON.stringify(dir)};
    for (let round = 0; round < 1e6; round++) {
      for (let i = 0; i < ${FILES}; i++) {
        const f = path.join(dir, 'f' + i);
        const tmp = f + '.swap';
        try {
          if (round % 2 === 0) fs.symlinkSync(${JSON.stringify(secret)}, tmp);
          else fs.writeFileSync(tmp, 'file ' + i + '\\n'.repeat(1 + (i % 7)));
          fs.renameSync(tmp, f);
        } catch {}
      }
    }`;
  return spawn(process.execPath, ['-e', code], { stdio: 'ignore' });
}

describe('a context changed under a COPY', () => {
  it('fails typed or succeeds, and never copies what lies outside the context', async () => {
    const [ctx, store, outside] = [await scratch(), await scratch(), await scratch()];
    cleanup.push(ctx, store, outside);
    const secret = join(outside, 'secret');
    await writeFile(secret, 'SECRET\n');
    const files = join(ctx, 'files');
    await mkdir(files);
    for (let i = 0; i < FILES; i++) await writeFile(join(files, `f${i}`), `file ${i}\n`);
    const child = swapper(files, secret);
    const outcomes: string[] = [];
    try {
      for (let i = 0; i < 15; i++) {
        try {
          const result = await build({ context: ctx, store, noCache: true, dockerfileText: 'FROM scratch\nCOPY files /files\n' });
          for (const layer of await result.image.layers()) {
            for (const member of await layerMembers(layer)) expect(member.text ?? '').not.toContain('SECRET');
          }
          outcomes.push('ok');
        } catch (err) {
          expect(err).toBeInstanceOf(LayerkitError);
          expect((err as LayerkitError).code).toBe('CONTEXT_CHANGED');
          expect((err as LayerkitError).message).toMatch(/\/files\/f\d+(\.swap)? changed while the context was being read/);
          outcomes.push('changed');
        }
      }
      // Through the CLI: one line, status 1 when it fails.
      const dockerfile = join(outside, 'Dockerfile');
      await writeFile(dockerfile, 'FROM scratch\nCOPY files /files\n');
      for (let i = 0; i < 5; i++) {
        const run = await cli(['build', '--no-run', '--no-cache', '--progress', 'plain', '--store', store, '-f', dockerfile, ctx]);
        expect(crashed(run.stderr) ? run.stderr : '').toBe('');
        if (run.code !== 0) expect(run.stderr).toMatch(/changed while the context was being read/);
      }
    } finally {
      child.kill('SIGKILL');
      await exited(child);
    }
    expect(outcomes.length).toBe(15);
  });
});
