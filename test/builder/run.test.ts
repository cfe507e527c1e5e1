import { describe, expect, it } from 'vitest';
import { BuildError, RunFailedError } from '../../src/builder/errors.js';
import type { BuildEvent } from '../../src/builder/events.js';
import type { RunExecutor, RunStep } from '../../src/sandbox/executor.js';
import { buildText, layerMembers, readText, rootfs, treeSummary } from './helpers.js';

const files = { 'etc/passwd': 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n', 'etc/group': 'root:x:0:\napp:x:1000:\nwheel:x:10:app\n', 'data/old.txt': 'old', 'data/keep.txt': 'keep' };

describe('RUN through the programmatic handler', () => {
  it('creates, modifies and deletes: whiteouts for deletions, an opaque marker for a directory made again', async () => {
    const result = await buildText(
      'FROM scratch\nCOPY . /\nRUN change things\n',
      files,
      {
        async run(_step, fs) {
          await fs.writeFile('/new.txt', 'new');
          await fs.appendFile('/data/keep.txt', '+more');
          await fs.rm('/data/old.txt');
          await fs.rm('/etc', { recursive: true });
          await fs.mkdir('/etc');
          await fs.writeFile('/etc/hostname', 'box');
        },
      },
    );
    const layers = await result.image.layers();
    expect(layers).toHaveLength(2);
    const members = await layerMembers(layers[1]!);
    // Whether the root itself is in the layer is the union view's business (its mtime changes).
    expect(members.map((m) => m.path).filter((p) => p !== '/')).toEqual(['/data', '/data/.wh.old.txt', '/data/keep.txt', '/etc', '/etc/.wh..wh..opq', '/etc/hostname', '/new.txt']);
    const tree = await rootfs(result.image);
    expect(Object.keys(treeSummary(tree))).toEqual(['/data', '/data/keep.txt', '/etc', '/etc/hostname', '/new.txt']);
    expect(await readText(tree, '/data/keep.txt')).toBe('keep+more');
    const history = (await result.image.config()).history!;
    expect(history.at(-1)).toEqual({ created: '2023-11-14T22:13:20Z', created_by: 'RUN /bin/sh -c change things # buildkit', comment: 'buildkit.dockerfile.v0' });
  });

  it('hands the executor the argv, env, workdir, user and mounts BuildKit would', async () => {
    const steps: RunStep[] = [];
    await buildText(
      [
        'FROM scratch',
        'COPY etc /etc',
        'ENV GREETING=hi',
        'ARG MODE=fast',
        'WORKDIR /work',
        'USER app',
        'SHELL ["/bin/bash", "-c"]',
        'RUN --mount=type=cache,target=/cache --network=none echo "$GREETING"',
        'RUN ["/bin/true", "x"]',
        'USER 42:wheel',
        'RUN <<EOF',
        'echo one',
        'EOF',
        'RUN <<EOF',
        '#!/usr/bin/env python3',
        'print(1)',
        'EOF',
      ].join('\n'),
      files,
      { run: (step) => void steps.push(step), buildArgs: { HTTP_PROXY: 'http://proxy:3128' } },
    );
    expect(steps[0]).toMatchObject({
      argv: ['/bin/bash', '-c', 'echo "$GREETING"'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'GREETING=hi', 'MODE=fast', 'HTTP_PROXY=http://proxy:3128'],
      workdir: '/work',
      user: { uid: 1000, gid: 1000, additionalGids: [1000, 10] },
      network: 'none',
      security: 'sandbox',
      location: { line: 8, column: 1 },
    });
    expect(steps[0]!.mounts).toMatchObject([{ type: 'cache', target: '/cache', readOnly: false }]);
    expect(steps[1]!.argv).toEqual(['/bin/true', 'x']);
    expect(steps[2]!.argv).toEqual(['/bin/bash', '-c', 'echo one\n']);
    expect(steps[2]!.user).toEqual({ uid: 42, gid: 10, additionalGids: [10] });
    expect(steps[3]!.argv).toEqual(['/bin/bash', '-c', '/dev/pipes/EOF']);
    expect(steps[3]!.files).toEqual([{ path: '/dev/pipes/EOF', content: '#!/usr/bin/env python3\nprint(1)\n', mode: 0o755 }]);
  });

  it('a handler that changes nothing makes no layer; its output reaches onEvent', async () => {
    const events: BuildEvent[] = [];
    const executor: RunExecutor = {
      async run(_step, ctx) {
        ctx.onOutput('stdout', new TextEncoder().encode('hello\n'));
        return { layer: null };
      },
    };
    const result = await buildText('FROM scratch\nRUN true\n', {}, { executor, onEvent: (e) => events.push(e) });
    expect(await result.image.layers()).toHaveLength(0);
    expect((await result.image.config()).history?.[0]?.empty_layer).toBe(true);
    const output = events.find((e) => e.type === 'output');
    expect(output && output.type === 'output' && new TextDecoder().decode(output.chunk)).toBe('hello\n');
  });

  it('output events name the step as step-start announced it (index, stage, instruction, line)', async () => {
    const events: BuildEvent[] = [];
    const executor: RunExecutor = {
      async run(step, ctx) {
        ctx.onOutput('stdout', new TextEncoder().encode(`${step.argv.at(-1)}\n`));
        return { layer: null };
      },
    };
    await buildText('FROM scratch\nENV A=1\nRUN first\nRUN second\n', {}, { executor, onEvent: (e) => events.push(e) });
    const starts = events.flatMap((e) => (e.type === 'step-start' && e.step.instruction.startsWith('RUN') ? [e.step] : []));
    const outputs = events.flatMap((e) => (e.type === 'output' ? [e.step] : []));
    expect(starts.map((s) => s.index)).toEqual([2, 3]);
    expect(outputs).toEqual(starts);
  });

  it('without executor or run, RUN fails with a typed error naming both options; the store stays empty', async () => {
    const err = await buildText('FROM scratch\nCOPY a /a\nRUN make\n', { a: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BuildError);
    expect((err as BuildError).code).toBe('RUN_EXECUTOR_MISSING');
    expect((err as BuildError).message).toContain('`executor`');
    expect((err as BuildError).message).toContain('`run`');
    expect((err as BuildError).data.line).toBe(3);
  });

  it('a non-zero status is a RunFailedError with the command and position', async () => {
    const err = await buildText('FROM scratch\n\nRUN exit 3\n', {}, { run: () => 3 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunFailedError);
    expect((err as RunFailedError).data).toMatchObject({ command: ['/bin/sh', '-c', 'exit 3'], exitCode: 3, line: 3, instruction: 'RUN exit 3' });
    expect((err as RunFailedError).message).toContain('exit code: 3');
  });

  it('release() of an executor result runs once, after its layer was staged — and when the build fails or there is no layer', async () => {
    const log: string[] = [];
    const executor = (fail: 'none' | 'stream' | 'empty'): RunExecutor => ({
      async run(_step, ctx) {
        await ctx.rootfs.writeFile('/made', 'by the step');
        const layer = await ctx.rootfs.commit();
        const wrapped: typeof layer = {
          ...layer,
          mediaType: layer.mediaType,
          diffId: () => layer.diffId(),
          digest: () => layer.digest(),
          size: () => layer.size(),
          uncompressed: () => layer.uncompressed(),
          async *compressed() {
            log.push('read');
            if (fail === 'stream') throw new Error('backing files gone');
            yield* layer.compressed();
          },
        };
        return { layer: fail === 'empty' ? null : wrapped, release: () => void log.push('release') };
      },
    });
    const ok = await buildText('FROM scratch\nRUN make\n', {}, { executor: executor('none') });
    expect(log).toEqual(['read', 'release']);
    expect(await readText(await rootfs(ok.image), '/made')).toBe('by the step');
    log.length = 0;
    await expect(buildText('FROM scratch\nRUN make\n', {}, { executor: executor('stream') })).rejects.toThrow('backing files gone');
    expect(log).toEqual(['read', 'release']);
    log.length = 0;
    await buildText('FROM scratch\nRUN make\n', {}, { executor: executor('empty') });
    expect(log).toEqual(['release']);
  });

  it('RUN layers are clamped to SOURCE_DATE_EPOCH and reproducible', async () => {
    const run = async (_s: RunStep, fs: import('../../src/unionfs/union.js').UnionFS) => {
      await fs.mkdir('/out/deep', { recursive: true });
      await fs.writeFile('/out/deep/file', 'same');
    };
    const a = await buildText('FROM scratch\nRUN build\n', {}, { run, sourceDateEpoch: 5000 });
    const b = await buildText('FROM scratch\nRUN build\n', {}, { run, sourceDateEpoch: 5000 });
    expect(a.digest).toBe(b.digest);
    const members = await layerMembers((await a.image.layers())[0]!);
    expect(members.every((m) => m.mtime <= 5000)).toBe(true);
  });
});
