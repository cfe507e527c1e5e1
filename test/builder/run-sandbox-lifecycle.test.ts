/**
 * Nothing of a sandboxed step outlives it: after success, failure, timeout
 * or abort the host's mount table is as before, no process of the step is
 * left, and the step directories are gone. The step's processes live in
 * their own pid namespace; killing its init kills them all, background
 * children included.
 */
import { copyFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { RunFailedError } from '../../src/builder/errors.js';
import type { BuildOptions } from '../../src/builder/options.js';
import { SandboxError, sandboxExecutor } from '../../src/sandbox/index.js';
import { ImageStore } from '../../src/image/store/store.js';
import { LayerkitError } from '../../src/errors.js';
import { buildText, mountTable, processesWith, sandboxReady, tempDir, writeContext } from './helpers.js';

const BUSYBOX = '/bin/busybox';
const BASE = 'FROM busybox:lifecycle\n';

let ready = false;
let store: ImageStore;
let context = '';
beforeAll(async () => {
  if (!(await sandboxReady('sandbox lifecycle tests'))) return;
  store = new ImageStore(await tempDir('layerkit-run-life-'));
  context = await writeContext({});
  await copyFile(BUSYBOX, join(context, 'busybox'));
  await buildText('FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n', {}, {
    executor: sandboxExecutor(),
    store,
    context,
    tags: 'busybox:lifecycle',
  });
  ready = true;
});

/** Mount points of this (the host's) mount namespace. */
async function eventually(check: () => Promise<boolean>, ms = 3000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

async function leftovers(): Promise<string[]> {
  return (await readdir(join(store.root, 'tmp')).catch(() => [] as string[])).filter((n) => n.startsWith('step-'));
}

function run(dockerfile: string, options: BuildOptions = {}) {
  return buildText(dockerfile, {}, { executor: sandboxExecutor(), store, context, noCache: true, ...options });
}

describe('sandbox executor: nothing outlives a step', () => {
  it('after success and failure: same mount table, no processes, no step directories', async (t) => {
    if (!ready) return t.skip();
    const mounts = await mountTable();
    // A background process still running when the command exits dies with the namespace.
    await run(`${BASE}RUN (sleep 4701 &) ; echo done > /done\n`);
    const failed = await run(`${BASE}RUN (sleep 4702 &) ; exit 7\n`).catch((e: unknown) => e);
    expect((failed as RunFailedError).data.exitCode).toBe(7);
    expect(await eventually(async () => (await processesWith('sleep 4701')).length === 0 && (await processesWith('sleep 4702')).length === 0)).toBe(true);
    expect(await mountTable()).toEqual(mounts);
    expect(await leftovers()).toEqual([]);
  });

  it('abort kills every process of the step, background children included', async (t) => {
    if (!ready) return t.skip();
    const mounts = await mountTable();
    const controller = new AbortController();
    const pending = run(`${BASE}RUN sleep 4703 & sleep 4704 & echo started && sleep 4705\n`, {
      signal: controller.signal,
      onEvent(event) {
        if (event.type === 'output' && Buffer.from(event.chunk).toString().includes('started')) controller.abort(new Error('stop'));
      },
    });
    const err = await pending.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LayerkitError);
    expect(['RUN_ABORTED', 'BUILD_ABORTED']).toContain((err as LayerkitError).code);
    for (const marker of ['sleep 4703', 'sleep 4704', 'sleep 4705']) {
      expect(await eventually(async () => (await processesWith(marker)).length === 0)).toBe(true);
    }
    expect(await mountTable()).toEqual(mounts);
    expect(await leftovers()).toEqual([]);
  });

  it('a step longer than timeoutMs is killed with RUN_TIMEOUT', async (t) => {
    if (!ready) return t.skip();
    const mounts = await mountTable();
    const started = Date.now();
    const err = await run(`${BASE}RUN sleep 4706 & sleep 4707\n`, { executor: sandboxExecutor({ timeoutMs: 1500 }) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxError);
    expect((err as SandboxError).code).toBe('RUN_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(60_000);
    for (const marker of ['sleep 4706', 'sleep 4707']) {
      expect(await eventually(async () => (await processesWith(marker)).length === 0)).toBe(true);
    }
    expect(await mountTable()).toEqual(mounts);
    expect(await leftovers()).toEqual([]);
  });

  it('a setup failure is a SANDBOX_SETUP_FAILED error, not the command failing', async (t) => {
    if (!ready) return t.skip();
    // A cache mount whose target is below a file cannot be mounted.
    const err = await run(`${BASE}RUN --mount=type=tmpfs,target=/bin/busybox/x true\n`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxError);
    expect((err as SandboxError).code).toBe('SANDBOX_SETUP_FAILED');
    expect(await leftovers()).toEqual([]);
  });
});
