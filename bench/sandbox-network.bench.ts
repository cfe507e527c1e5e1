/**
 * What a RUN step's own network costs:
 *
 * - `run.step-user-network-vs-none`: one step (run, then the layer of its
 *   change, digests included) with the default network — a namespace of
 *   its own reached out through slirp4netns, started once the init reports
 *   its pid and waited for before the command runs — against the same step
 *   with `--network=none` (the same namespaces, only a loopback). Both have
 *   the two nested pid namespaces and the `/dev` tmpfs; the ratio is what
 *   slirp4netns adds to a step.
 */
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunContext, RunStep } from '../src/sandbox/executor.js';
import { canUseSandbox, probeSandbox, sandboxExecutor } from '../src/sandbox/index.js';
import type { Entry } from '../src/layers/entry.js';
import { fileSource } from '../src/layers/from-directory.js';
import { layerFromEntries } from '../src/layers/from-entries.js';
import { UnionFS } from '../src/unionfs/union.js';
import { compare, ms, unavailable, type BenchCase } from './lib.js';

const BUSYBOX = '/bin/busybox';

function base() {
  const size = statSync(BUSYBOX).size;
  const entries: Entry[] = [
    { path: '/bin', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 },
    { path: '/bin/busybox', type: 'file', mode: 0o755, uid: 0, gid: 0, mtime: 0, size, content: fileSource(BUSYBOX, size) },
  ];
  for (const applet of ['sh', 'echo']) entries.push({ path: `/bin/${applet}`, type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, size: 0, linkname: 'busybox' });
  return layerFromEntries(entries, { compression: 'none' });
}

function step(network: RunStep['network']): RunStep {
  return {
    argv: ['/bin/sh', '-c', 'echo done > /done'],
    env: ['PATH=/bin'],
    workdir: '/',
    user: { uid: 0, gid: 0, additionalGids: [] },
    mounts: [],
    network,
    security: 'sandbox',
    heredocs: [],
    instruction: 'RUN echo done > /done',
    location: { line: 1, column: 1 },
  };
}

export const cases: BenchCase[] = [
  {
    name: 'run.step-user-network-vs-none',
    target: 1.5,
    async run() {
      if (!existsSync(BUSYBOX)) return unavailable(`${BUSYBOX} missing (apt-get install busybox-static)`, 'the same step with --network=none');
      const caps = await probeSandbox();
      if (!(await canUseSandbox())) return unavailable(`no sandbox: ${caps.reason}`, 'the same step with --network=none');
      if (!caps.userNetwork) return unavailable('slirp4netns cannot run here (apt-get install slirp4netns; /dev/net/tun)', 'the same step with --network=none');
      const store = await mkdtemp(join(tmpdir(), 'layerkit-bench-net-'));
      try {
        const executor = sandboxExecutor({ strategy: 'overlay' });
        const layer = base();
        const rootfs = await UnionFS.open([layer]);
        const once = async (network: RunStep['network']) => {
          const ctx: RunContext = { lowers: [layer], rootfs, storeRoot: store, resolveMountSource: () => Promise.reject(new Error('no mounts')), sourceDateEpoch: 0, onOutput() {} };
          const result = await executor.run(step(network), ctx);
          for await (const chunk of result.layer!.compressed()) void chunk;
          await result.release?.();
        };
        const r = await compare({ rounds: 9, warmup: 1, baseline: () => once('none'), subject: () => once('default') });
        return {
          ratio: r.ratio,
          baseline: `one step with --network=none ${ms(r.baselineMs)}`,
          detail: `the same step with its own network out through slirp4netns: ${ms(r.subjectMs)}`,
        };
      } finally {
        await rm(store, { recursive: true, force: true });
      }
    },
  },
];
