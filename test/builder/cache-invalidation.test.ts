/**
 * What each kind of change invalidates: exactly the steps whose inputs it
 * touches and the steps after them in the same chain, nothing else.
 */
import { chmod, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BuildOptions, BuildResult } from '../../src/builder/options.js';
import { ImageStore } from '../../src/image/store/store.js';
import { buildText, freshStore, writeContext, type FileSpec } from './helpers.js';

const DOCKERFILE = ['FROM scratch', 'COPY a.txt /a.txt', 'COPY b.txt /b.txt', 'ENV X=1', 'COPY dir/ /dir/', 'COPY . /all/', 'LABEL done=yes'].join('\n');
const FILES = { 'a.txt': 'A', 'b.txt': 'B', 'dir/c.txt': 'C', 'dir/d.txt': 'D', 'ignored.txt': 'I', '.dockerignore': 'ignored.txt\n' };

const cached = (r: BuildResult) => r.steps.map((s) => s.cached);

/** A context, a store primed by one build, and a rebuild function. */
async function primed(dockerfile = DOCKERFILE, files: Record<string, FileSpec> = FILES) {
  const store = await freshStore();
  const context = await writeContext(files);
  // File times tick with the kernel's coarse clock: a file written within a tick of the first hashing is
  // "racily clean" and not recorded in the stat index (it is hashed again next time), so let a tick pass.
  await new Promise((resolve) => setTimeout(resolve, 30));
  const first = await buildText(dockerfile, {}, { store, context });
  return {
    store,
    context,
    first,
    rebuild: (options: BuildOptions & { dockerfileText?: string } = {}) => buildText(options.dockerfileText ?? dockerfile, {}, { store, context, ...options }),
    /** The same inputs into an empty store with the cache off: what the cached build must equal. */
    reference: async (options: BuildOptions & { dockerfileText?: string } = {}) =>
      buildText(options.dockerfileText ?? dockerfile, {}, { store: await freshStore(), context, noCache: true, ...options }),
  };
}

describe('what a change invalidates', () => {
  it('an unchanged rebuild hits every step, metadata steps included, and gives the same image', async () => {
    const { first, rebuild } = await primed();
    expect(cached(first)).toEqual([false, false, false, false, false, false]);
    const again = await rebuild();
    expect(cached(again)).toEqual([true, true, true, true, true, true]);
    expect(again.cache).toMatchObject({ hits: 6, misses: 0, contextFilesRead: 0 });
    expect(again.digest).toBe(first.digest);
  });

  it('editing one context file misses the first COPY that selects it and everything after', async () => {
    const { context, rebuild, reference } = await primed();
    await writeFile(join(context, 'dir/c.txt'), 'C changed');
    const result = await rebuild();
    expect(cached(result)).toEqual([true, true, true, false, false, false]);
    expect(result.digest).toBe((await reference()).digest);
  });

  it('editing a file only the last COPY reads: only that file is hashed again, only that COPY runs', async () => {
    const dockerfile = 'FROM scratch\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\nENV X=1\nCOPY dir/ /dir/\nCMD ["run"]\n';
    const { context, rebuild, reference } = await primed(dockerfile);
    const unchanged = await rebuild();
    expect(unchanged.cache).toMatchObject({ contextFilesRead: 0, contextFilesReused: 4 });
    await writeFile(join(context, 'dir/c.txt'), 'C changed');
    const result = await rebuild();
    expect(cached(result)).toEqual([true, true, true, false, false]);
    expect(result.cache).toMatchObject({ hits: 3, misses: 2, contextFilesRead: 1, contextFilesReused: 3 });
    expect(result.digest).toBe((await reference()).digest);
  });

  it('touching a file (mtime only) misses nothing; the file is read again, never trusted on mtime', async () => {
    const { context, first, rebuild } = await primed();
    const later = Date.now() / 1000 + 60;
    await utimes(join(context, 'b.txt'), later, later);
    const result = await rebuild();
    expect(cached(result)).toEqual([true, true, true, true, true, true]);
    expect(result.cache.contextFilesRead).toBe(1);
    expect(result.digest).toBe(first.digest);
  });

  it('a content change that keeps size and mtime is still seen (buildkit#4950)', async () => {
    const { context, rebuild, reference } = await primed();
    const path = join(context, 'a.txt');
    await writeFile(path, 'Z');
    await utimes(path, 1609459200, 1609459200);
    const result = await rebuild();
    expect(cached(result)).toEqual([false, false, false, false, false, false]);
    expect(result.digest).toBe((await reference()).digest);
  });

  it('chmod of a file misses the COPYs that select it', async () => {
    const { context, rebuild, reference } = await primed();
    await chmod(join(context, 'b.txt'), 0o755);
    const result = await rebuild();
    expect(cached(result)).toEqual([true, false, false, false, false, false]);
    expect(result.digest).toBe((await reference()).digest);
  });

  it("a symlink's new target misses the COPY that copies it, though no file content changed", async () => {
    const dockerfile = 'FROM scratch\nCOPY a.txt /a.txt\nCOPY links/ /links/\nLABEL done=yes\n';
    const { context, rebuild, reference } = await primed(dockerfile, { 'a.txt': 'A', 'links/to': { symlink: '../a.txt' }, 'b.txt': 'B' });
    await rm(join(context, 'links/to'));
    await symlink('../b.txt', join(context, 'links/to'));
    const result = await rebuild();
    expect(cached(result)).toEqual([true, false, false]);
    expect(result.digest).toBe((await reference()).digest);
  });

  it('changing a .dockerignored file misses nothing', async () => {
    const { context, first, rebuild } = await primed();
    await writeFile(join(context, 'ignored.txt'), 'changed, and longer');
    const result = await rebuild();
    expect(cached(result)).toEqual([true, true, true, true, true, true]);
    expect(result.digest).toBe(first.digest);
  });

  it("an --exclude'd file does not count for that COPY", async () => {
    const dockerfile = 'FROM scratch\nCOPY --exclude=*.log logs/ /logs/\nCOPY a.txt /a\n';
    const { context, first, rebuild } = await primed(dockerfile, { 'logs/keep.txt': 'k', 'logs/x.log': 'x', 'a.txt': 'A' });
    await writeFile(join(context, 'logs/x.log'), 'grown');
    const result = await rebuild();
    expect(cached(result)).toEqual([true, true]);
    expect(result.digest).toBe(first.digest);
  });

  it('reordering instructions misses from the first moved one on', async () => {
    const { rebuild, reference } = await primed();
    const swapped = DOCKERFILE.replace('COPY dir/ /dir/\nCOPY . /all/', 'COPY . /all/\nCOPY dir/ /dir/');
    const result = await rebuild({ dockerfileText: swapped });
    expect(cached(result)).toEqual([true, true, true, false, false, false]);
    expect(result.digest).toBe((await reference({ dockerfileText: swapped })).digest);
    // Back to the first order: everything is known again.
    expect(cached(await rebuild())).toEqual([true, true, true, true, true, true]);
  });

  it('a changed build arg used only in a later stage misses only there, from its ARG on', async () => {
    const dockerfile = [
      'FROM scratch AS one',
      'COPY a.txt /a',
      'ENV FROM_ONE=1',
      'FROM scratch AS two',
      'COPY b.txt /b',
      'ARG V',
      'LABEL v=$V',
      'COPY --from=one /a /from-one',
    ].join('\n');
    const store = await freshStore();
    const context = await writeContext(FILES);
    const first = await buildText(dockerfile, {}, { store, context, buildArgs: { V: '1' } });
    expect(cached(first)).toEqual([false, false, false, false, false, false]);
    const result = await buildText(dockerfile, {}, { store, context, buildArgs: { V: '2' } });
    expect(result.steps.map((s) => [s.stage, s.cached])).toEqual([
      ['one', true],
      ['one', true],
      ['two', true],
      ['two', false],
      ['two', false],
      ['two', false],
    ]);
  });

  it('a changed global build arg redeclared only in a later stage misses only there, from its ARG on', async () => {
    const dockerfile = ['ARG V=default', 'FROM scratch AS one', 'COPY a.txt /a', 'FROM scratch AS two', 'COPY b.txt /b', 'ARG V', 'RUN echo $V', 'COPY --from=one /a /from-one'].join('\n');
    const store = await freshStore();
    const context = await writeContext(FILES);
    const run = async (_step: unknown, fs: { writeFile(p: string, d: string): Promise<void> }) => fs.writeFile('/ran', 'yes');
    await buildText(dockerfile, {}, { store, context, run, runCacheKey: 'v1', buildArgs: { V: '1' } });
    const result = await buildText(dockerfile, {}, { store, context, run, runCacheKey: 'v1', buildArgs: { V: '2' } });
    expect(result.steps.map((s) => [s.stage, s.instruction, s.cached])).toEqual([
      ['one', 'COPY a.txt /a', true],
      ['two', 'COPY b.txt /b', true],
      ['two', 'ARG V', false],
      ['two', 'RUN echo $V', false],
      ['two', 'COPY --from=one /a /from-one', false],
    ]);
    // The default applies again when no build arg is given: a value never built before, so it misses the same steps.
    expect(cached(await buildText(dockerfile, {}, { store, context, run, runCacheKey: 'v1' }))).toEqual([true, true, false, false, false]);
    expect(cached(await buildText(dockerfile, {}, { store, context, run, runCacheKey: 'v1', buildArgs: { V: '1' } }))).toEqual([true, true, true, true, true]);
  });

  it('metadata steps are cached: changing one misses it and the rest of its stage, nothing before', async () => {
    const dockerfile = 'FROM scratch\nLABEL a=1\nCOPY a.txt /a\nENV X=1\nUSER 1000\nCOPY b.txt /b\nEXPOSE 80\nCMD ["run"]\n';
    const { first, rebuild, reference } = await primed(dockerfile);
    expect(cached(first)).toEqual([false, false, false, false, false, false, false]);
    expect(cached(await rebuild())).toEqual([true, true, true, true, true, true, true]);
    const changed = dockerfile.replace('USER 1000', 'USER 1001');
    const result = await rebuild({ dockerfileText: changed });
    expect(cached(result)).toEqual([true, true, true, false, false, false, false]);
    expect(result.digest).toBe((await reference({ dockerfileText: changed })).digest);
    expect((await result.image.config()).config?.User).toBe('1001');
  });

  it('a miss in one stage leaves stages that do not depend on it cached; the stages built on it miss', async () => {
    const dockerfile = [
      'FROM scratch AS changed',
      'COPY a.txt /a',
      'FROM scratch AS independent',
      'COPY b.txt /b',
      'FROM changed AS child',
      'COPY dir/ /dir/',
      'FROM independent',
      'COPY --from=child /dir /dir',
    ].join('\n');
    const { context, rebuild, reference } = await primed(dockerfile);
    await writeFile(join(context, 'a.txt'), 'A changed');
    const result = await rebuild();
    expect(result.steps.map((s) => [s.stage, s.cached])).toEqual([
      ['changed', false],
      ['independent', true],
      ['child', false],
      // /dir in the child stage holds the same files: the copy from it still hits (content-based).
      ['stage-3', true],
    ]);
    expect(result.digest).toBe((await reference()).digest);
  });

  it('a new base image under COPY --link: the --link layer is reused, the steps after it run', async () => {
    const store = await freshStore();
    const baseContext = await writeContext({ 'base.txt': 'base v1' });
    await buildText('FROM scratch\nCOPY base.txt /base.txt\n', {}, { store, context: baseContext, tags: ['base:1'] });
    const dockerfile = 'FROM base:1\nCOPY --link a.txt /app/a.txt\nCOPY b.txt /app/b.txt\n';
    const context = await writeContext(FILES);
    const first = await buildText(dockerfile, {}, { store, context });
    await writeFile(join(baseContext, 'base.txt'), 'base v2');
    await buildText('FROM scratch\nCOPY base.txt /base.txt\n', {}, { store, context: baseContext, tags: ['base:1'] });
    const result = await buildText(dockerfile, {}, { store, context });
    expect(cached(result)).toEqual([true, false]);
    expect(result.steps[0]!.layer).toBe(first.steps[0]!.layer);
    expect(result.digest).not.toBe(first.digest);
    // The rebased image is what a build without cache makes of the new base.
    const reference = await buildText(dockerfile, {}, { store, context, noCache: true });
    expect(result.digest).toBe(reference.digest);
  });

  it('without --link a new base image misses every step', async () => {
    const store = await freshStore();
    const baseContext = await writeContext({ 'base.txt': 'base v1' });
    await buildText('FROM scratch\nCOPY base.txt /base.txt\n', {}, { store, context: baseContext, tags: ['base:1'] });
    const dockerfile = 'FROM base:1\nCOPY a.txt /app/a.txt\nCOPY b.txt /app/b.txt\n';
    const context = await writeContext(FILES);
    await buildText(dockerfile, {}, { store, context });
    await writeFile(join(baseContext, 'base.txt'), 'base v2');
    await buildText('FROM scratch\nCOPY base.txt /base.txt\n', {}, { store, context: baseContext, tags: ['base:1'] });
    expect(cached(await buildText(dockerfile, {}, { store, context }))).toEqual([false, false]);
  });

  it('COPY --from a rebuilt stage hits when the copied files are the same (content-based)', async () => {
    const dockerfile = [
      'FROM scratch AS builder',
      'COPY a.txt /out/a.txt',
      'COPY b.txt /scratch/b.txt',
      'FROM scratch',
      'COPY --from=builder /out /out',
      'COPY dir/ /dir/',
    ].join('\n');
    const { context, rebuild, reference } = await primed(dockerfile);
    await writeFile(join(context, 'b.txt'), 'B changed');
    const unchangedOutput = await rebuild();
    expect(unchangedOutput.steps.map((s) => [s.stage, s.cached])).toEqual([
      ['builder', true],
      ['builder', false],
      ['stage-1', true],
      ['stage-1', true],
    ]);
    await writeFile(join(context, 'a.txt'), 'A changed');
    const changedOutput = await rebuild();
    expect(cached(changedOutput)).toEqual([false, false, false, false]);
    expect(changedOutput.digest).toBe((await reference()).digest);
  });

  it('RUN is cached on its text, the variables it sees and the state before it', async () => {
    let runs = 0;
    const run = async (_step: unknown, fs: { writeFile(p: string, d: string): Promise<void> }) => {
      runs++;
      await fs.writeFile('/out.txt', 'made');
    };
    const dockerfile = 'FROM scratch\nCOPY a.txt /a\nARG MODE\nRUN make\nCOPY b.txt /b\n';
    const store = await freshStore();
    const context = await writeContext(FILES);
    await buildText(dockerfile, {}, { store, context, run, runCacheKey: 'v1', buildArgs: { MODE: 'fast' } });
    expect(runs).toBe(1);
    const same = await buildText(dockerfile, {}, { store, context, run, runCacheKey: 'v1', buildArgs: { MODE: 'fast' } });
    expect(runs).toBe(1);
    expect(cached(same)).toEqual([true, true, true, true]);
    const other = await buildText(dockerfile, {}, { store, context, run, runCacheKey: 'v1', buildArgs: { MODE: 'slow' } });
    expect(runs).toBe(2);
    expect(cached(other)).toEqual([true, false, false, false]);
  });

  it('WORKDIR hits replay the working directory', async () => {
    const dockerfile = 'FROM scratch\nWORKDIR /app\nCOPY a.txt rel.txt\n';
    const { first, rebuild } = await primed(dockerfile);
    const again = await rebuild();
    expect(cached(again)).toEqual([true, true]);
    expect((await again.image.config()).config?.WorkingDir).toBe('/app');
    expect(again.digest).toBe(first.digest);
  });

  it('noCache looks nothing up; noCacheFilter only in the stages it names', async () => {
    const dockerfile = 'FROM scratch AS one\nCOPY a.txt /a\nFROM scratch AS two\nCOPY b.txt /b\nCOPY --from=one /a /a\n';
    const { first, rebuild } = await primed(dockerfile);
    const none = await rebuild({ noCache: true });
    expect(cached(none)).toEqual([false, false, false]);
    expect(none.digest).toBe(first.digest);
    const filtered = await rebuild({ noCacheFilter: ['two'] });
    expect(filtered.steps.map((s) => [s.stage, s.cached])).toEqual([
      ['one', true],
      ['two', false],
      ['two', false],
    ]);
  });

  it('a different SOURCE_DATE_EPOCH or compression misses (the layer bytes differ)', async () => {
    const { rebuild } = await primed('FROM scratch\nCOPY a.txt /a\n');
    expect(cached(await rebuild({ sourceDateEpoch: 42 }))).toEqual([false]);
    expect(cached(await rebuild({ compression: { level: 1 } }))).toEqual([false]);
  });

  it('a step that failed leaves the steps before it cached (as BuildKit keeps them)', async () => {
    const store = await freshStore();
    const context = await writeContext(FILES);
    const err = await buildText('FROM scratch\nCOPY a.txt /a\nCOPY missing /\n', {}, { store, context }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(await new ImageStore(store.root).list()).toEqual([]);
    expect(cached(await buildText('FROM scratch\nCOPY a.txt /a\n', {}, { store, context }))).toEqual([true]);
  });
});
