import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { build } from '../../src/builder/build.js';
import { BuildError, RunFailedError } from '../../src/builder/errors.js';
import type { BuildEvent } from '../../src/builder/events.js';
import { ImageStore } from '../../src/image/store/store.js';
import { buildText, freshStore, tempDir, writeContext } from './helpers.js';

async function blobs(store: ImageStore): Promise<string[]> {
  return readdir(join(store.root, 'blobs', 'sha256')).catch(() => []);
}

describe('failure leaves the store unchanged', () => {
  it.each([
    ['a failing RUN after a COPY', 'FROM scratch\nCOPY a /a\nRUN false\n', { run: () => 1 }, RunFailedError],
    ['a missing file after a COPY', 'FROM scratch\nCOPY a /a\nCOPY nope /\n', {}, BuildError],
    ['a bad --chown', 'FROM scratch\nCOPY a /a\nCOPY --chown=who a /b\n', {}, BuildError],
    ['an unknown flag', 'FROM scratch\nCOPY --chwon=1 a /a\n', {}, Error],
  ])('%s', async (_name, dockerfile, options, errorClass) => {
    const store = await freshStore();
    const before = await buildText('FROM scratch\nCOPY a /kept\n', { a: 'A' }, { store, tags: ['kept:1'] });
    const blobsBefore = await blobs(store);
    const listBefore = await store.list();
    const err = await buildText(dockerfile, { a: 'A' }, { ...options, store, tags: ['failed:1'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(errorClass);
    expect(await blobs(store)).toEqual(blobsBefore);
    expect(await store.list()).toEqual(listBefore);
    expect(await (await store.getImage('kept:1')).digest()).toBe(before.digest);
  });

  it('an aborted build throws BUILD_ABORTED and writes nothing', async () => {
    const store = await freshStore();
    const controller = new AbortController();
    const context = await writeContext({ a: 'A' });
    const err = await build({
      context,
      store,
      dockerfileText: 'FROM scratch\nCOPY a /a\nRUN wait\n',
      signal: controller.signal,
      run: () => controller.abort(new Error('stop')),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BuildError);
    expect((err as BuildError).code).toBe('BUILD_ABORTED');
    expect(await blobs(store)).toEqual([]);
  });

  it('invalid options fail before any work', async () => {
    const store = await freshStore();
    for (const options of [{ tags: ['Bad Tag'] }, { output: 'type=zip,dest=x' }, { platform: 'linux' }]) {
      const err = await buildText('FROM scratch\n', {}, { store, ...options }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BuildError);
      expect((err as BuildError).code).toBe('INVALID_OPTION');
    }
    expect(await blobs(store)).toEqual([]);
  });
});

describe('results', () => {
  it('tags are normalized (latest by default); the image is in the store by digest and ID without tags', async () => {
    const tagged = await buildText('FROM scratch\nENV A=1\n', {}, { tags: ['app', 'me/app:2'] });
    expect(tagged.tags).toEqual(['docker.io/library/app:latest', 'docker.io/me/app:2']);
    expect(await (await tagged.store.getImage('app')).digest()).toBe(tagged.digest);
    const untagged = await buildText('FROM scratch\nENV A=2\n', {});
    expect(untagged.tags).toEqual([]);
    expect(await (await untagged.store.getImage(untagged.digest)).configDigest()).toBe(untagged.imageId);
    expect(await (await untagged.store.getImage(untagged.imageId.slice(7, 19))).digest()).toBe(untagged.digest);
  });

  it('reports steps and events in order', async () => {
    const events: BuildEvent[] = [];
    const result = await buildText('FROM scratch\nCOPY a /a\nENV X=1\n', { a: 'A' }, { onEvent: (e) => events.push(e) });
    expect(result.steps.map((s) => [s.instruction, s.cached, s.layer !== null])).toEqual([
      ['COPY a /a', false, true],
      ['ENV X=1', false, false],
    ]);
    expect(result.steps[0]!.layer).toBe((await result.image.manifest()).layers[0]!.digest);
    expect(events.map((e) => e.type)).toEqual(['build-start', 'step-start', 'step-end', 'step-start', 'step-end', 'export', 'build-end']);
  });
});

describe('determinism', () => {
  const fileName = fc.stringMatching(/^[a-z]{1,6}(\.[a-z]{1,3})?$/);
  const context = fc.dictionary(fileName, fc.record({ content: fc.string({ maxLength: 40 }), mode: fc.constantFrom(0o644, 0o755, 0o600) }), {
    minKeys: 1,
    maxKeys: 5,
  });

  it('the same build in fresh stores gives the same image digest with SOURCE_DATE_EPOCH, and equal layer digests without it', async () => {
    await fc.assert(
      fc.asyncProperty(context, fc.constantFrom('/', '/app/', '/srv/data/'), fc.boolean(), async (files, dest, chown) => {
        const dir = await writeContext(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, { content: v.content, mode: v.mode }])));
        const dockerfile = `FROM scratch\nWORKDIR /w\nCOPY ${chown ? '--chown=10:20 ' : ''}. ${dest}\nENV A=1\n`;
        const run = async (epoch: number | undefined) =>
          build({ context: dir, store: await freshStore(), dockerfileText: dockerfile, ...(epoch === undefined ? {} : { sourceDateEpoch: epoch }) });
        const [a, b] = [await run(1234), await run(1234)];
        expect(a.digest).toBe(b.digest);
        const [c, d] = [await run(undefined), await run(undefined)];
        expect((await c.image.manifest()).layers).toEqual((await d.image.manifest()).layers);
      }),
      { numRuns: 4 },
    );
  });

  it('a build of the same inputs from a different directory gives the same digest', async () => {
    const files = { 'x/y': 'Y', z: 'Z' };
    const a = await buildText('FROM scratch\nCOPY . /\n', files, { context: await writeContext(files, await tempDir()) });
    const b = await buildText('FROM scratch\nCOPY . /\n', files, { context: await writeContext(files, await tempDir()) });
    expect(a.digest).toBe(b.digest);
  });
});
