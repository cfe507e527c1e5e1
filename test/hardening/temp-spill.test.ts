/**
 * Temporary files of a store stay under the store. Every test runs the real
 * `layerkit` program with `TMPDIR` set to an empty directory it watches
 * (inotify sees an entry however briefly it lives): a layer index that
 * spills while a build reads a cached layer, the sandbox probe and a RUN
 * step, and a build cache exported to a registry and imported from it
 * write nothing there. What a build killed with `kill -9` leaves under
 * `<store>/tmp` is swept by the next command. And every cleanup at exit
 * shares one `exit` listener of the process.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { watch } from 'node:fs';
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/builder/build.js';
import { atExit } from '../../src/exit-cleanups.js';
import { processScratchDir, registerScratchUser, scratchOwner } from '../../src/image/store/scratch.js';
import { canUseSandbox } from '../../src/sandbox/probe.js';
import { sandboxExecutor } from '../../src/sandbox/sandbox.js';
import { sandboxReady } from '../builder/helpers.js';
import { hasRegistry, startRegistry, type RunningRegistry as TestRegistry } from '../registry/helpers.js';
import { cli, dirBytes, exited, names, removeAll, repo, scratch, startCli, waitFor } from './helpers.js';

const exec = promisify(execFile);
const cleanup: string[] = [];
afterEach(async () => removeAll(...cleanup.splice(0)));

/** Watches a directory: every name that appears in it, except tsx's own compile cache. */
function watchTmp(dir: string): { seen: Set<string>; close: () => Promise<string[]> } {
  const seen = new Set<string>();
  const watcher = watch(dir, (_event, name) => {
    if (name && !String(name).startsWith('tsx-')) seen.add(String(name));
  });
  return {
    seen,
    async close() {
      // inotify events arrive asynchronously: let the last ones in before looking.
      await new Promise((r) => setTimeout(r, 200));
      watcher.close();
      const left = (await names(dir)).filter((n) => !n.startsWith('tsx-'));
      return [...new Set([...seen, ...left])].sort();
    },
  };
}

/** A process's spool directories in the store's `tmp/`. */
async function spools(store: string): Promise<string[]> {
  return (await names(join(store, 'tmp'))).filter((n) => n.startsWith('spool-'));
}

/**
 * A context whose first stage is one layer with 80 MiB of incompressible
 * file bodies, past the 64 MiB an index keeps in memory; the last stage
 * copies one file out of it (`out` names the copy).
 */
async function spillingContext(out: string, dir?: string): Promise<string> {
  const ctx = dir ?? (await scratch());
  if (!dir) {
    await writeFile(join(ctx, 'big1'), randomBytes(40 << 20));
    await writeFile(join(ctx, 'big2'), randomBytes(40 << 20));
  }
  await writeFile(join(ctx, 'Dockerfile'), `FROM scratch AS s\nCOPY big1 big2 /\nFROM scratch\nCOPY --from=s /big2 /${out}\n`);
  return ctx;
}

describe('one exit listener for every cleanup', () => {
  it('registrations, cleanups and process directories, however many and in any order, add at most one exit listener', async () => {
    const store = await scratch();
    cleanup.push(store);
    const before = process.listenerCount('exit');
    for (let i = 0; i < 30; i++) await (await registerScratchUser(store))();
    for (let i = 0; i < 15; i++) await processScratchDir(join(store, `s${i}`), 'spool');
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constant('add' as const), fc.nat(20)), { maxLength: 60 }), (ops) => {
        const cancels: Array<() => void> = [];
        for (const op of ops) {
          if (op === 'add') cancels.push(atExit(() => undefined));
          else cancels.splice(op % Math.max(1, cancels.length), 1)[0]?.();
        }
        for (const cancel of cancels) cancel();
        return process.listenerCount('exit') <= before + 1;
      }),
    );
    expect(process.listenerCount('exit')).toBeLessThanOrEqual(before + 1);
  });

  it('builds in one process, each with a RUN step when the sandbox is here, add at most one exit listener between them', async () => {
    const [store, ctx] = [await scratch(), await scratch()];
    cleanup.push(store, ctx);
    const withRun = await canUseSandbox();
    if (withRun) await copyFile('/bin/busybox', join(ctx, 'busybox'));
    const executor = withRun ? sandboxExecutor() : undefined;
    const counts: number[] = [];
    for (let i = 0; i < 12; i++) {
      await writeFile(join(ctx, 'a'), `build ${i}\n`);
      const run = withRun ? `COPY busybox /bin/busybox\nRUN ["/bin/busybox", "cp", "/a", "/b"]\n` : '';
      await build({ context: ctx, store, dockerfileText: `FROM scratch\nCOPY a /a\n${run}`, ...(executor ? { executor } : {}) });
      counts.push(process.listenerCount('exit'));
    }
    // The first build may add the shared listener; none after it adds another.
    expect(new Set(counts.slice(1)).size, String(counts)).toBe(1);
    expect(counts[11]! - counts[0]!).toBe(0);
    expect((await names(join(store, 'tmp'))).filter((n) => n !== '.live')).toEqual([]);
  });

  it('a real process: no MaxListenersExceededWarning, and its cleanups run when it exits', async () => {
    const store = await scratch();
    cleanup.push(store);
    const code = `import { processScratchDir, registerScratchUser } from ${JSON.stringify(join(repo, 'src/image/store/scratch.ts'))};
      for (let i = 0; i < 25; i++) await (await registerScratchUser(${JSON.stringify(store)}))();
      await registerScratchUser(${JSON.stringify(store)});
      console.log(await processScratchDir(${JSON.stringify(store)}, 'spool'));
      console.log(process.listenerCount('exit'));`;
    const { stdout, stderr } = await exec(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: repo });
    expect(stderr).not.toMatch(/MaxListenersExceededWarning/);
    const [dir, listeners] = stdout.trim().split('\n');
    expect(dir!.startsWith(join(store, 'tmp', 'spool-'))).toBe(true);
    expect(Number(listeners)).toBeLessThanOrEqual(2);
    // The directory and the registration went at exit; nothing of the process is left.
    expect(await names(join(store, 'tmp'))).toEqual([]);
  });

  it('a process killed with SIGKILL leaves its spool directory owned by a dead pid; the next command removes it', async () => {
    const store = await scratch();
    cleanup.push(store);
    const code = `import { processScratchDir } from ${JSON.stringify(join(repo, 'src/image/store/scratch.ts'))};
      await processScratchDir(${JSON.stringify(store)}, 'spool');
      process.kill(process.pid, 'SIGKILL');`;
    await exec(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: repo }).catch(() => undefined);
    const [left] = await spools(store);
    expect(left).toBeDefined();
    expect(scratchOwner(left!)).toBeDefined();
    expect((await cli(['images', '--store', store])).code).toBe(0);
    expect(await spools(store)).toEqual([]);
  });
});

describe('an index that spills while a build reads a cached layer', () => {
  it('kill -9 mid-spill: nothing in $TMPDIR, and the next command removes the spool under <store>/tmp', async () => {
    const [store, tmpdir] = [await scratch(), await scratch()];
    const ctx = await spillingContext('out');
    cleanup.push(store, tmpdir, ctx);
    const watcher = watchTmp(tmpdir);
    try {
      const first = await cli(['build', '--progress', 'plain', '--store', store, ctx], { env: { TMPDIR: tmpdir } });
      expect(first.code, first.stderr).toBe(0);
      // The first stage is a hit now, its layer known from the saved index; copying /big2 out reads the cached blob.
      await spillingContext('again', ctx);
      const child = startCli(['build', '--progress', 'plain', '--store', store, ctx], { TMPDIR: tmpdir });
      const spilled = async () => {
        for (const name of await spools(store)) if ((await dirBytes(join(store, 'tmp', name))) > 1 << 20) return true;
        return false;
      };
      await waitFor('the build to spill the index', async () => (await spilled()) || child.exitCode !== null);
      child.kill('SIGKILL');
      expect((await exited(child)).signal).toBe('SIGKILL');
      expect(await spilled()).toBe(true);
      expect((await cli(['images', '--store', store], { env: { TMPDIR: tmpdir } })).code).toBe(0);
      expect(await spools(store)).toEqual([]);
      expect((await names(join(store, 'tmp'))).filter((n) => n !== '.live')).toEqual([]);
    } finally {
      expect(await watcher.close()).toEqual([]);
    }
  });

  it('a finished build leaves nothing: not in $TMPDIR, not under <store>/tmp', async () => {
    const [store, tmpdir] = [await scratch(), await scratch()];
    const ctx = await spillingContext('out');
    cleanup.push(store, tmpdir, ctx);
    const watcher = watchTmp(tmpdir);
    try {
      expect((await cli(['build', '--progress', 'plain', '--store', store, ctx], { env: { TMPDIR: tmpdir } })).code).toBe(0);
      await spillingContext('again', ctx);
      const second = await cli(['build', '--progress', 'plain', '--store', store, ctx], { env: { TMPDIR: tmpdir } });
      expect(second.code, second.stderr).toBe(0);
      expect(second.stderr).toMatch(/CACHED/);
      expect(await names(join(store, 'tmp'))).toEqual([]);
    } finally {
      expect(await watcher.close()).toEqual([]);
    }
  });
});

describe('the sandbox writes nothing to $TMPDIR', () => {
  it('the probe, and a RUN step killed with kill -9 (the next command sweeps the step under <store>/tmp)', async (t) => {
    if (!(await sandboxReady('the sandbox and $TMPDIR'))) return t.skip();
    const [store, ctx, tmpdir] = [await scratch(), await scratch(), await scratch()];
    cleanup.push(store, ctx, tmpdir);
    const watcher = watchTmp(tmpdir);
    try {
      // The probe alone, in a process of its own (it runs once per process).
      const code = `import { probeSandbox } from ${JSON.stringify(join(repo, 'src/sandbox/probe.ts'))};
        console.log(JSON.stringify(await probeSandbox()));`;
      const { stdout } = await exec(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: repo, env: { ...process.env, TMPDIR: tmpdir } });
      expect(JSON.parse(stdout), stdout).toMatchObject({ available: true });

      await copyFile('/bin/busybox', join(ctx, 'busybox'));
      await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "dd", "if=/dev/zero", "of=/fill", "bs=1M", "count=4"]\nRUN ["/bin/busybox", "sleep", "2"]\n');
      const done = await cli(['build', '--progress', 'plain', '--store', store, ctx], { env: { TMPDIR: tmpdir } });
      expect(done.code, done.stderr).toBe(0);
      expect(await names(join(store, 'tmp')), done.stderr).toEqual([]);

      await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "sleep", "3"]\n');
      const child = startCli(['build', '--progress', 'plain', '--store', store, ctx], { TMPDIR: tmpdir });
      const tmp = join(store, 'tmp');
      await waitFor('the RUN step directory', async () => (await names(tmp)).some((n) => n.startsWith('step-')) || child.exitCode !== null);
      child.kill('SIGKILL');
      await exited(child);
      expect((await names(tmp)).some((n) => n.startsWith('step-'))).toBe(true);
      // The step's processes die with the build; give the kernel a moment to reap them.
      await new Promise((r) => setTimeout(r, 500));
      expect((await cli(['images', '--store', store], { env: { TMPDIR: tmpdir } })).code).toBe(0);
      expect((await names(tmp)).filter((n) => n !== '.live')).toEqual([]);
    } finally {
      expect(await watcher.close()).toEqual([]);
    }
  });
});

const registryReady = hasRegistry();

describe.runIf(registryReady)('a build cache through a registry writes nothing to $TMPDIR', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startRegistry();
  }, 30_000);
  afterAll(async () => {
    await registry?.stop();
  });

  it('export from one store, import into another: scratch under each store, removed after', async () => {
    const [one, two, tmpdir, ctx] = [await scratch(), await scratch(), await scratch(), await scratch()];
    cleanup.push(one, two, tmpdir, ctx);
    await writeFile(join(ctx, 'a.txt'), randomBytes(1 << 20));
    await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a.txt /a\nCOPY Dockerfile /d\n');
    const ref = `${registry.host}/hardening/cache:tmp`;
    const watcher = watchTmp(tmpdir);
    try {
      const exported = await cli(['build', '--progress', 'plain', '--store', one, '--cache-to', `type=registry,ref=${ref},mode=max`, ctx], { env: { TMPDIR: tmpdir } });
      expect(exported.code, exported.stderr).toBe(0);
      const imported = await cli(['build', '--progress', 'plain', '--store', two, '--cache-from', `type=registry,ref=${ref}`, ctx], { env: { TMPDIR: tmpdir } });
      expect(imported.code, imported.stderr).toBe(0);
      expect(imported.stderr.match(/CACHED/g)?.length).toBe(2);
      for (const store of [one, two]) {
        expect(await names(join(store, 'tmp'))).toEqual([]);
        expect(await names(join(store, 'cache', 'tmp'))).toEqual([]);
      }
    } finally {
      expect(await watcher.close()).toEqual([]);
    }
  });
});
