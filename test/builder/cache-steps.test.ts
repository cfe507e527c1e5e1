/**
 * The build cache as build() reports it, and the inputs of the less common
 * steps: events and results, ONBUILD triggers, stages built FROM stages,
 * named contexts, ADD of URLs, RUN bind mounts, COPY --link --chown by name.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BuildEvent } from '../../src/builder/events.js';
import type { Fetcher } from '../../src/builder/options.js';
import type { BuildResult } from '../../src/builder/options.js';
import { buildText, freshStore, writeContext } from './helpers.js';

const cached = (r: BuildResult) => r.steps.map((s) => s.cached);

describe('what build() reports', () => {
  it('step-end events and steps say CACHED; the report counts hits, misses and context files', async () => {
    const store = await freshStore();
    const context = await writeContext({ 'a.txt': 'A', 'b.txt': 'B' });
    // A clock tick, so files written just now are not "racily clean" for the stat index (they would be hashed again).
    await new Promise((resolve) => setTimeout(resolve, 30));
    const dockerfile = 'FROM scratch\nCOPY a.txt /a\nENV X=1\nCOPY b.txt /b\n';
    const first = await buildText(dockerfile, {}, { store, context });
    expect(first.cache).toMatchObject({ hits: 0, misses: 3, contextFilesRead: 2, exports: [], writeErrors: [] });
    await writeFile(join(context, 'b.txt'), 'B2');
    const events: BuildEvent[] = [];
    const second = await buildText(dockerfile, {}, { store, context, onEvent: (e) => events.push(e) });
    const ends = events.flatMap((e) => (e.type === 'step-end' ? [[e.step.instruction, e.cached]] : []));
    expect(ends).toEqual([
      ['COPY a.txt /a', true],
      ['ENV X=1', true],
      ['COPY b.txt /b', false],
    ]);
    expect(cached(second)).toEqual([true, true, false]);
    expect(second.cache).toMatchObject({ hits: 2, misses: 1, contextFilesRead: 1, contextFilesReused: 1 });
    // A cached step reports the layer it recorded, and history is written as for a step that ran.
    expect(second.steps[0]!.layer).toBe(first.steps[0]!.layer);
    expect((await second.image.config()).history).toEqual((await first.image.config()).history);
  });
});

describe('keys of the less common steps', () => {
  it('ONBUILD triggers are steps like any other', async () => {
    const store = await freshStore();
    const context = await writeContext({ 'a.txt': 'A', 'b.txt': 'B' });
    await buildText('FROM scratch\nONBUILD COPY a.txt /from-trigger\nCOPY b.txt /b\n', {}, { store, context, tags: ['parent:1'] });
    const dockerfile = 'FROM parent:1\nCOPY b.txt /b2\n';
    expect(cached(await buildText(dockerfile, {}, { store, context }))).toEqual([false, false]);
    expect(cached(await buildText(dockerfile, {}, { store, context }))).toEqual([true, true]);
    await writeFile(join(context, 'a.txt'), 'A2');
    expect(cached(await buildText(dockerfile, {}, { store, context }))).toEqual([false, false]);
  });

  it('a stage FROM another stage hits exactly when that stage ended in a known state', async () => {
    const store = await freshStore();
    const context = await writeContext({ 'a.txt': 'A', 'b.txt': 'B' });
    const dockerfile = 'FROM scratch AS base\nCOPY a.txt /a\nFROM base\nCOPY b.txt /b\n';
    await buildText(dockerfile, {}, { store, context });
    expect(cached(await buildText(dockerfile, {}, { store, context }))).toEqual([true, true]);
    await writeFile(join(context, 'a.txt'), 'A2');
    expect(cached(await buildText(dockerfile, {}, { store, context }))).toEqual([false, false]);
  });

  it('a named context directory used as a stage and as a COPY source is keyed on its content', async () => {
    const store = await freshStore();
    const context = await writeContext({ 'a.txt': 'A' });
    const extra = await writeContext({ 'lib/x.txt': 'X', 'other.txt': 'O' });
    const dockerfile = 'FROM tools\nCOPY --from=tools /lib /copied\nCOPY a.txt /a\n';
    const options = { store, context, buildContexts: { tools: extra } };
    await buildText(dockerfile, {}, options);
    expect(cached(await buildText(dockerfile, {}, options))).toEqual([true, true]);
    await writeFile(join(extra, 'other.txt'), 'O2');
    expect(cached(await buildText(dockerfile, {}, options))).toEqual([false, false]);
  });

  it('ADD of a URL is keyed on the fetched bytes, and fetched once per build', async () => {
    const store = await freshStore();
    const context = await writeContext({});
    let body = 'v1';
    let fetches = 0;
    const fetcher: Fetcher = async () => {
      fetches++;
      return { data: new TextEncoder().encode(body) };
    };
    const dockerfile = 'FROM scratch\nADD https://example.com/file.txt /file.txt\n';
    await buildText(dockerfile, {}, { store, context, fetcher });
    expect(fetches).toBe(1);
    expect(cached(await buildText(dockerfile, {}, { store, context, fetcher }))).toEqual([true]);
    body = 'v2';
    const changed = await buildText(dockerfile, {}, { store, context, fetcher });
    expect(cached(changed)).toEqual([false]);
    expect(fetches).toBe(3);
  });

  it('RUN --mount=type=bind from the context is keyed on the mounted files', async () => {
    const store = await freshStore();
    const context = await writeContext({ 'src/in.txt': 'in', 'elsewhere.txt': 'e' });
    let runs = 0;
    const run = async (_step: unknown, fs: { writeFile(p: string, d: string): Promise<void> }) => {
      runs++;
      await fs.writeFile('/out', String(runs));
    };
    const dockerfile = 'FROM scratch\nRUN --mount=type=bind,source=src,target=/src make\n';
    await buildText(dockerfile, {}, { store, context, run, runCacheKey: 'v1' });
    await writeFile(join(context, 'elsewhere.txt'), 'e2');
    expect(cached(await buildText(dockerfile, {}, { store, context, run, runCacheKey: 'v1' }))).toEqual([true]);
    await writeFile(join(context, 'src/in.txt'), 'in2');
    expect(cached(await buildText(dockerfile, {}, { store, context, run, runCacheKey: 'v1' }))).toEqual([false]);
    expect(runs).toBe(2);
  });

  it('a step that misses after hits reads the cached layers below it correctly (saved indexes, contents on demand)', async () => {
    const store = await freshStore();
    const context = await writeContext({ 'a.txt': 'from the context', 'dir/gone.txt': 'x', 'dir/kept.txt': 'y' });
    const run = async (step: { argv: string[] }, fs: { readFile(p: string, e: 'utf8'): Promise<string>; writeFile(p: string, d: string): Promise<void>; rm(p: string): Promise<void> }) => {
      await fs.writeFile('/b.txt', `${await fs.readFile('/a.txt', 'utf8')} + ${step.argv.at(-1)}`);
      await fs.rm('/dir/gone.txt');
    };
    const dockerfile = (word: string) => `FROM scratch\nCOPY a.txt /a.txt\nCOPY dir /dir\nRUN derive ${word}\nFROM scratch\nCOPY --from=0 /dir /copy\nCOPY --from=0 /b.txt /b.txt\n`;
    await buildText(dockerfile('one'), {}, { store, context, run, runCacheKey: 'v1' });
    const second = await buildText(dockerfile('two'), {}, { store, context, run, runCacheKey: 'v1' });
    // /dir is the same after the new RUN (content-based), /b.txt is not.
    expect(cached(second)).toEqual([true, true, false, true, false]);
    const reference = await buildText(dockerfile('two'), {}, { store: await freshStore(), context, run, runCacheKey: 'v1', noCache: true });
    expect(second.digest).toBe(reference.digest);
  });

  it('COPY --link --chown=<name> is keyed on the ids the name resolves to', async () => {
    const store = await freshStore();
    const files = { 'etc/passwd': 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n', 'etc/group': 'root:x:0:\napp:x:1000:\n', 'a.txt': 'A' };
    const context = await writeContext(files);
    const dockerfile = 'FROM scratch\nCOPY etc /etc\nCOPY --link --chown=app a.txt /a\n';
    await buildText(dockerfile, {}, { store, context });
    expect(cached(await buildText(dockerfile, {}, { store, context }))).toEqual([true, true]);
    await writeFile(join(context, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\napp:x:2000:1000::/home/app:/bin/sh\n');
    const moved = await buildText(dockerfile, {}, { store, context });
    expect(cached(moved)).toEqual([false, false]);
    const reference = await buildText(dockerfile, {}, { store: await freshStore(), context, noCache: true });
    expect(moved.digest).toBe(reference.digest);
  });
});
