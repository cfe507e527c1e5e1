import { describe, expect, it } from 'vitest';
import { BuildError } from '../../src/builder/errors.js';
import type { BuildEvent } from '../../src/builder/events.js';
import { hostPlatform } from '../../src/image/platform.js';
import { buildText, readText, rootfs, treeSummary } from './helpers.js';

async function failure(dockerfile: string, options: Parameters<typeof buildText>[2] = {}): Promise<BuildError> {
  const err = await buildText(dockerfile, { 'a.txt': 'A' }, options).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(BuildError);
  return err as BuildError;
}

describe('multi-stage builds', () => {
  it('COPY --from by name, by index, and FROM an earlier stage', async () => {
    const result = await buildText(
      [
        'FROM scratch AS one',
        'COPY a.txt /one.txt',
        'FROM scratch',
        'COPY b.txt /two.txt',
        'FROM one AS three',
        'COPY --from=1 /two.txt /from-index.txt',
        'COPY --from=one /one.txt /from-name.txt',
      ].join('\n'),
      { 'a.txt': 'A', 'b.txt': 'B' },
    );
    const tree = await rootfs(result.image);
    expect(Object.keys(treeSummary(tree))).toEqual(['/from-index.txt', '/from-name.txt', '/one.txt']);
    expect(await readText(tree, '/from-index.txt')).toBe('B');
    expect(result.steps.map((s) => `${s.stage}: ${s.instruction}`)).toEqual([
      'one: COPY a.txt /one.txt',
      'stage-1: COPY b.txt /two.txt',
      'three: COPY --from=1 /two.txt /from-index.txt',
      'three: COPY --from=one /one.txt /from-name.txt',
    ]);
  });

  it('builds only the stages the target needs', async () => {
    const events: BuildEvent[] = [];
    const result = await buildText(
      'FROM scratch AS unused\nCOPY missing.txt /\nFROM scratch AS dep\nCOPY a.txt /\nFROM scratch AS final\nCOPY --from=dep /a.txt /b\nFROM scratch AS after\nCOPY nope /\n',
      { 'a.txt': 'A' },
      { target: 'final', onEvent: (e) => events.push(e) },
    );
    expect(result.steps.map((s) => s.stage)).toEqual(['dep', 'final']);
    expect(events.find((e) => e.type === 'build-start')).toEqual({ type: 'build-start', stages: ['dep', 'final'], target: 'final' });
  });

  it('an unknown target, an unknown --from stage index, a later stage in --from, and cycles are typed errors', async () => {
    const target = await failure('FROM scratch AS build\nFROM scratch\n', { target: 'buld' });
    expect(target.code).toBe('UNKNOWN_TARGET');
    expect(target.message).toContain('did you mean build?');
    const index = await failure('FROM scratch\nCOPY --from=4 /x /\n');
    expect(index.code).toBe('UNKNOWN_STAGE');
    expect(index.data.line).toBe(2);
    const later = await failure('FROM scratch AS a\nCOPY --from=b /x /\nFROM scratch AS b\nCOPY a.txt /\nFROM a\n');
    expect(later.code).toBe('UNKNOWN_STAGE');
    expect(later.message).toContain('needs to be defined before current stage "a"');
    const cycle = await failure('FROM b AS a\nCOPY --from=b /x /\nFROM a AS b\n');
    expect(cycle.code).toBe('STAGE_CYCLE');
    expect(cycle.data.cycle).toEqual(['a', 'b', 'a']);
  });

  it('a --from that names no stage is an image; one neither in the store nor in its registry is BASE_IMAGE_NOT_FOUND', async () => {
    // A registry that knows no image, so the test needs no network.
    const unknown = async () => new Response(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }), { status: 404, headers: { 'content-type': 'application/json' } });
    const registry = { fetch: unknown as unknown as typeof fetch };
    const err = await failure('FROM scratch\nCOPY --from=nosuch/image:1 /x /\n', { registry });
    expect(err.code).toBe('BASE_IMAGE_NOT_FOUND');
    expect(err.message).toContain('neither in the local store nor in its registry');
    expect(err.data.line).toBe(2);
    const from = await failure('FROM alpine:3.20\n', { registry });
    expect(from.code).toBe('BASE_IMAGE_NOT_FOUND');
    expect(from.data).toMatchObject({ line: 1, reference: 'alpine:3.20' });
    const invalid = await failure('FROM Alpine\n');
    expect(invalid.code).toBe('INVALID_BASE_REFERENCE');
  });
});

describe('ARG and ENV scoping', () => {
  it('meta ARGs are seen by FROM only, and inside a stage once redeclared', async () => {
    const result = await buildText(
      ['ARG BASE=first', 'ARG V=1', 'FROM scratch AS first', 'ENV SEEN="[$V]"', 'FROM ${BASE}', 'ARG V', 'ENV SEEN="[$V]"'].join('\n'),
      {},
      { buildArgs: { V: '2' } },
    );
    const config = await result.image.config();
    expect(config.config?.Env).toContain('SEEN=[2]');
    expect(config.history?.map((h) => h.created_by)).toEqual(['ENV SEEN=[]', 'ARG V=2', 'ENV SEEN=[2]']);
  });

  it('build args override defaults; ENV after ARG wins; ARG defaults expand against the stage', async () => {
    const result = await buildText('FROM scratch\nENV P=/p\nARG DIR=$P/x\nARG OTHER=default\nENV OTHER=env\nLABEL dir=$DIR other=$OTHER\n', {}, {
      buildArgs: { OTHER: 'given' },
    });
    expect((await result.image.config()).config?.Labels).toEqual({ dir: '/p/x', other: 'env' });
  });

  it('predefined platform args are global; TARGETARCH inside a stage after ARG TARGETARCH', async () => {
    const result = await buildText('FROM scratch\nLABEL before=[$TARGETARCH]\nARG TARGETARCH\nARG TARGETPLATFORM\nARG BUILDOS\nLABEL arch=$TARGETARCH plat=$TARGETPLATFORM build=$BUILDOS\n', {}, {
      platform: 'linux/arm/v7',
    });
    const labels = (await result.image.config()).config?.Labels;
    expect(labels).toEqual({ before: '[]', arch: 'arm', plat: 'linux/arm/v7', build: hostPlatform().os });
  });

  it('warns about unused build args and undefined variables', async () => {
    const events: BuildEvent[] = [];
    await buildText('ARG USED\nFROM scratch\nLABEL x=$NOPE\n', {}, { buildArgs: { USED: '1', UNUSED: '2' }, onEvent: (e) => events.push(e) });
    const warnings = events.flatMap((e) => (e.type === 'warning' ? [`${e.code}: ${e.message}`] : []));
    expect(warnings).toEqual(["UndefinedVar: Usage of undefined variable '$NOPE'", 'UnusedBuildArg: build argument "UNUSED" is not consumed by any ARG']);
  });

  it('SOURCE_DATE_EPOCH as a build arg sets created times, like the option', async () => {
    const result = await buildText('FROM scratch\nENV A=1\n', {}, { sourceDateEpoch: undefined, buildArgs: { SOURCE_DATE_EPOCH: '86400' } });
    const config = await result.image.config();
    expect(config.created).toBe('1970-01-02T00:00:00Z');
    expect(config.history?.[0]?.created).toBe('1970-01-02T00:00:00Z');
  });

  it('RUN history lists the stage\'s ARGs as BuildKit does (|N K=V …)', async () => {
    const result = await buildText('FROM scratch\nARG A=1\nARG B\nENV A=2\nRUN --network=none make\n', {}, { run: () => {} });
    const history = (await result.image.config()).history!;
    expect(history.at(-1)).toMatchObject({ created_by: 'RUN |2 A=2 B= /bin/sh -c make # buildkit', empty_layer: true });
  });
});

describe('ONBUILD', () => {
  it('triggers run at the start of a stage built FROM the image, and are not inherited', async () => {
    const files = { 'a.txt': 'A', 'b.txt': 'B' };
    const base = await buildText('FROM scratch\nONBUILD COPY a.txt /from-trigger.txt\nONBUILD ENV TRIGGERED=yes\n', files, { tags: ['onbuild-base:1'] });
    const child = await buildText('FROM onbuild-base:1\nCOPY b.txt /b.txt\n', files, { store: base.store });
    const config = await child.image.config();
    expect(config.config?.OnBuild).toBeUndefined();
    expect(config.config?.Env).toContain('TRIGGERED=yes');
    expect(child.steps.map((s) => s.instruction)).toEqual(['ONBUILD COPY a.txt /from-trigger.txt', 'ONBUILD ENV TRIGGERED=yes', 'COPY b.txt /b.txt']);
    const tree = await rootfs(child.image);
    expect(await readText(tree, '/from-trigger.txt')).toBe('A');
    // A stage FROM another stage runs that stage's ONBUILD instructions.
    const staged = await buildText('FROM scratch AS base\nONBUILD COPY a.txt /t\nFROM base\n', files);
    expect(Object.keys(treeSummary(await rootfs(staged.image)))).toEqual(['/t']);
  });
});
