/**
 * `docker run`/`exec`/`logs`/`ps` habits through the real program:
 * `--env-file`, `exec -u/-d/-e/-w`, `logs --tail/-f`, `ps --format/-s`,
 * `kill`, `wait`, `top`, `import`, and one-line refusals of flags layerkit
 * does not have by design.
 */
import { execFileSync } from 'node:child_process';
import { chmod, copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxExecutor } from '../../src/sandbox/index.js';
import type { CliIo } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import { ImageStore } from '../../src/image/store/store.js';
import { buildText, sandboxReady, tempDir } from '../builder/helpers.js';
import { layerkit } from './habits-helpers.js';

const IMAGE = 'habits/box';
let work: string;
let store: string;
let rootfsTar: string;
let ready = false;

/** `layerkit VERB --store STORE ARGS…` */
function lk(verb: string, args: string[], options: Parameters<typeof layerkit>[1] = {}) {
  return layerkit([verb, '--store', store, ...args], options);
}

beforeAll(async () => {
  work = await tempDir('layerkit-habits-containers-');
  store = join(work, 'store');
  // A root file system with busybox, a passwd with nobody, for import (and as a base).
  const root = join(work, 'rootfs');
  await mkdir(join(root, 'bin'), { recursive: true });
  await mkdir(join(root, 'etc'));
  await mkdir(join(root, 'tmp'));
  await writeFile(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n');
  await writeFile(join(root, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  if (await sandboxReady('container habits CLI tests', { overlay: true })) {
    await copyFile('/bin/busybox', join(root, 'bin', 'busybox'));
    await chmod(join(root, 'tmp'), 0o1777);
    await buildText(
      'FROM scratch\nCOPY . /\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nCMD ["sh"]\n',
      {},
      { executor: sandboxExecutor(), store: new ImageStore(store), context: root, tags: IMAGE },
    );
    ready = true;
  } else {
    await writeFile(join(root, 'bin', 'busybox'), 'not a program');
  }
  rootfsTar = join(work, 'rootfs.tar.gz');
  execFileSync('tar', ['-C', root, '-czf', rootfsTar, '.']);
}, 180_000);

afterAll(async () => {
  if (ready) {
    const ids = (await lk('ps', ['-a', '-q', '--no-trunc'])).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await lk('rm', ['-f', ...ids]);
  }
  if (work) await rm(work, { recursive: true, force: true });
}, 60_000);

describe('import', () => {
  it('stores a rootfs tarball from a file or standard input as a one-layer image, with --change applied', async () => {
    const fromFile = await lk('import', ['--change', 'CMD ["/bin/busybox", "echo", "imported"]', '-c', 'ENV MODE=imported', '-m', 'from a tarball', rootfsTar, 'habits/imported:1']);
    expect(fromFile.status, fromFile.stderr).toBe(0);
    expect(fromFile.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const config = await lk('inspect', ['-f', '{{json .Config.Cmd}} {{.Config.Env}} {{len .RootFS.Layers}}', 'habits/imported:1']);
    expect(config.stdout).toBe('["/bin/busybox","echo","imported"] [MODE=imported] 1\n');
    const history = await lk('history', ['habits/imported:1']);
    expect(history.stdout).toContain('from a tarball');
    const fromStdin = await lk('import', ['-', 'habits/imported:2'], { input: execFileSync('cat', [rootfsTar]) });
    expect(fromStdin.status, fromStdin.stderr).toBe(0);
    // The same tarball and changes-free config differ only in config: the layer is the same.
    const layers = await lk('inspect', ['-f', '{{index .RootFS.Layers 0}}', 'habits/imported:1', 'habits/imported:2']);
    const [a, b] = layers.stdout.trim().split('\n');
    expect(a).toBe(b);
  }, 60_000);

  it('refuses a change docker import does not apply, storing nothing', async () => {
    const before = (await lk('images', ['-q'])).stdout;
    const bad = await lk('import', ['--change', 'RUN rm -rf /', rootfsTar, 'habits/bad']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('RUN is not a change docker import applies');
    expect((await lk('images', ['-q'])).stdout).toBe(before);
  }, 60_000);

  it('an imported image runs', async (t) => {
    if (!ready) return t.skip();
    const out = await lk('run', ['--rm', 'habits/imported:1']);
    expect(out.status, out.stderr).toBe(0);
    expect(out.stdout).toBe('imported\n');
  }, 60_000);
});

describe('run flags', () => {
  it.each([
    [['--privileged'], '--privileged is not supported'],
    [['--cap-add', 'NET_ADMIN'], '--cap-add is not supported'],
    [['--restart', 'always'], '--restart is not supported'],
    [['-m', '512m'], '-m is not supported'],
  ])('%j is refused in one line with status 125', async (flags, message) => {
    const out = await lk('run', [...flags, IMAGE, 'true']);
    expect(out.status).toBe(125);
    expect(out.stderr.trim().split('\n')).toEqual([expect.stringContaining(message)]);
  }, 60_000);

  it('--env-file reads K=V lines (comments, blanks, K alone from the environment); -e wins', async (t) => {
    if (!ready) return t.skip();
    const file = join(work, 'app.env');
    await writeFile(file, '# settings\nA=from file\n\nB="quoted stays"\nFROM_HOST\nC=1\n');
    const out = await lk('run', ['--rm', '--env-file', file, '-e', 'C=2', IMAGE, 'sh', '-c', 'echo "$A|$B|$FROM_HOST|$C"'], { env: { FROM_HOST: 'host value' } });
    expect(out.status, out.stderr).toBe(0);
    expect(out.stdout).toBe('from file|"quoted stays"|host value|2\n');
    // In-process: Node 20 itself reads an --env-file anywhere on its command line and exits 9 when it is missing.
    let stderr = '';
    const io: CliIo = { stdout: () => {}, stderr: (t) => void (stderr += t), readText: async () => '' };
    expect(await main(['run', '--store', store, '--rm', '--env-file', join(work, 'nope.env'), IMAGE, 'true'], io)).toBe(125);
    expect(stderr).toContain('no such file');
  }, 60_000);

  it("--entrypoint '' clears the image's entrypoint", async (t) => {
    if (!ready) return t.skip();
    const out = await lk('run', ['--rm', '--entrypoint', '', IMAGE, 'echo', 'plain']);
    expect(out.stdout).toBe('plain\n');
  }, 60_000);
});

describe('a running container', () => {
  let id = '';

  beforeAll(async () => {
    if (!ready) return;
    const started = await lk('run', ['-d', '--name', 'habits-web', IMAGE, 'sh', '-c', 'for i in 1 2 3 4 5; do echo line$i; done; echo oops >&2; trap "exit 3" TERM; while true; do sleep 0.1; done']);
    expect(started.status, started.stderr).toBe(0);
    id = started.stdout.trim();
  }, 60_000);

  it('exec -u, -e, -w and -d', async (t) => {
    if (!ready) return t.skip();
    const who = await lk('exec', ['-u', 'nobody', '-e', 'X=1', '-w', '/tmp', 'habits-web', 'sh', '-c', 'echo "$(id -u):$(id -g):$X:$(pwd)"']);
    expect(who.status, who.stderr).toBe(0);
    expect(who.stdout).toBe('65534:65534:1:/tmp\n');
    const detached = await lk('exec', ['-d', 'habits-web', 'sh', '-c', 'sleep 0.3; echo done > /tmp/detached']);
    expect(detached.status, detached.stderr).toBe(0);
    expect(detached.stdout).toBe('');
    let seen = '';
    for (let i = 0; i < 100 && seen === ''; i++) {
      seen = (await lk('exec', ['habits-web', 'cat', '/tmp/detached'])).stdout;
      if (seen === '') await new Promise((r) => setTimeout(r, 200));
    }
    expect(seen).toBe('done\n');
  }, 120_000);

  it('logs --tail N prints the last lines of both streams together, as Docker; -t adds times', async (t) => {
    if (!ready) return t.skip();
    const out = await lk('logs', ['--tail', '2', 'habits-web']);
    expect(out.stdout).toBe('line5\n');
    expect(out.stderr).toBe('oops\n');
    const timestamps = await lk('logs', ['-t', '--tail', '3', 'habits-web']);
    expect(timestamps.status, timestamps.stderr).toBe(0);
    expect(timestamps.stdout).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z line4\n\S+ line5\n$/);
    const details = await lk('logs', ['--details', 'habits-web']);
    expect(details.status).toBe(2);
    expect(details.stderr.trim().split('\n')).toHaveLength(1);
  }, 60_000);

  it('ps --format and -s', async (t) => {
    if (!ready) return t.skip();
    const out = await lk('ps', ['--format', '{{.Names}} {{.State}} {{.Image}}']);
    expect(out.stdout).toContain(`habits-web running ${IMAGE}\n`);
    const table = await lk('ps', ['--format', 'table {{.ID}}\t{{.Names}}']);
    expect(table.stdout.split('\n')[0]).toMatch(/^CONTAINER ID\s+NAMES$/);
    expect(table.stdout).toContain(id.slice(0, 12));
    const sized = await lk('ps', ['-s']);
    expect(sized.stdout.split('\n')[0]).toMatch(/NAMES\s+SIZE$/);
    expect(sized.stdout).toMatch(/habits-web\s+\d+(\.\d+)?k?B \(virtual \d+(\.\d+)?[kM]B\)/);
  }, 60_000);

  it('top lists its processes', async (t) => {
    if (!ready) return t.skip();
    const out = await lk('top', ['habits-web']);
    expect(out.status, out.stderr).toBe(0);
    expect(out.stdout.split('\n')[0]).toMatch(/^UID\s+PID\s+PPID\s+CMD$/);
    expect(out.stdout).toContain('sleep 0.1');
  }, 60_000);

  it('kill -s TERM, then wait prints the exit code', async (t) => {
    if (!ready) return t.skip();
    const killed = await lk('kill', ['-s', 'TERM', 'habits-web']);
    expect(killed.status, killed.stderr).toBe(0);
    expect(killed.stdout).toBe('habits-web\n');
    const waited = await lk('wait', ['habits-web']);
    expect(waited.stdout).toBe('3\n');
    const again = await lk('kill', ['habits-web']);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('not running');
    const badSignal = await lk('kill', ['-s', 'NOPE', 'habits-web']);
    expect(badSignal.stderr).toContain('invalid signal');
  }, 60_000);

  it('logs -f follows until the container stops', async (t) => {
    if (!ready) return t.skip();
    const started = await lk('run', ['-d', IMAGE, 'sh', '-c', 'echo first; sleep 1; echo second']);
    const follower = await lk('logs', ['-f', started.stdout.trim()]);
    expect(follower.stdout).toBe('first\nsecond\n');
  }, 60_000);
});

describe('run -v and --mount', () => {
  it('binds a host directory read-write (the host sees the writes) and read-only', async (t) => {
    if (!ready) return t.skip();
    const host = join(work, 'host-dir');
    await mkdir(host);
    await writeFile(join(host, 'in.txt'), 'from host\n');
    const rw = await lk('run', ['--rm', '-v', `${host}:/data`, IMAGE, 'sh', '-c', 'cat /data/in.txt && echo from container > /data/out.txt']);
    expect(rw.status, rw.stderr).toBe(0);
    expect(rw.stdout).toBe('from host\n');
    expect(await readFile(join(host, 'out.txt'), 'utf8')).toBe('from container\n');
    const ro = await lk('run', ['--rm', '--mount', `type=bind,source=${host},target=/data,readonly`, IMAGE, 'sh', '-c', 'cat /data/in.txt; echo x > /data/no.txt']);
    expect(ro.stdout).toBe('from host\n');
    expect(ro.status).not.toBe(0);
    expect(await readdir(host)).not.toContain('no.txt');
  }, 120_000);

  it('a named volume outlives its containers until volume rm; tmpfs leaves nothing', async (t) => {
    if (!ready) return t.skip();
    const first = await lk('run', ['--rm', '-v', 'habits-vol:/cache', '--mount', 'type=tmpfs,target=/scratch', IMAGE, 'sh', '-c', 'echo kept > /cache/k && echo gone > /scratch/g']);
    expect(first.status, first.stderr).toBe(0);
    const second = await lk('run', ['--name', 'habits-vol-user', '--mount', 'type=volume,src=habits-vol,dst=/again', IMAGE, 'cat', '/again/k']);
    expect(second.stdout).toBe('kept\n');
    expect((await lk('volume', ['ls', '-q'])).stdout.split('\n')).toContain('habits-vol');
    const busy = await lk('volume', ['rm', 'habits-vol']);
    expect(busy.status).toBe(1);
    expect(busy.stderr).toContain('in use by habits-vol-user');
    const gone = await lk('rm', ['habits-vol-user']);
    expect(gone.status, gone.stderr).toBe(0);
    const removed = await lk('volume', ['rm', 'habits-vol']);
    expect(removed.status, removed.stderr).toBe(0);
    expect((await lk('volume', ['ls', '-q'])).stdout.split('\n')).not.toContain('habits-vol');
    const diff = await lk('run', ['--name', 'habits-tmpfs', '--mount', 'type=tmpfs,target=/scratch', IMAGE, 'sh', '-c', 'echo gone > /scratch/g']);
    expect(diff.status, diff.stderr).toBe(0);
    expect((await lk('diff', ['habits-tmpfs'])).stdout).not.toContain('/scratch/g');
  }, 120_000);

  it('refuses a missing --mount bind source and a relative target in one line', async () => {
    const missing = await lk('run', ['--rm', '--mount', `type=bind,src=${join(work, 'nope')},dst=/x`, IMAGE, 'true']);
    expect(missing.status).toBe(125);
    expect(missing.stderr).toContain('does not exist');
    const relative = await lk('run', ['--rm', '-v', '/tmp:x', IMAGE, 'true']);
    expect(relative.status).toBe(125);
    expect(relative.stderr).toContain('not an absolute path');
  }, 60_000);
});

describe('run --init', () => {
  let init = false;

  beforeAll(async () => {
    const { findProgram } = await import('../../src/sandbox/probe.js');
    init = (await findProgram('docker-init')) !== undefined || (await findProgram('tini-static')) !== undefined;
    if (!init) {
      if (process.env.CI) throw new Error('run --init needs docker-init or tini-static (Debian package tini)');
      console.warn('skipping run --init tests: no docker-init or tini-static (Debian package tini)');
    }
  });

  it('runs the command under a static init as PID 1 that reaps orphans (without it, they stay zombies)', async (t) => {
    if (!ready || !init) return t.skip();
    const zombies = async (flags: string[]) => {
      // The orphan's parent becomes PID 1, which `exec sleep` makes a process that never waits.
      const id = (await lk('run', ['-d', ...flags, IMAGE, 'sh', '-c', '(sleep 0.2 &); exec sleep 30'])).stdout.trim();
      try {
        const ps = await lk('exec', [id, 'ps', '-o', 'pid,stat,comm']);
        expect(ps.status, ps.stderr).toBe(0);
        return { pid1: ps.stdout.split('\n')[1]!.trim().split(/\s+/).at(-1), zombies: ps.stdout.split('\n').filter((l) => / Z /.test(` ${l} `)).length };
      } finally {
        await lk('rm', ['-f', id]);
      }
    };
    expect(await zombies([])).toEqual({ pid1: 'sleep', zombies: 1 });
    expect(await zombies(['--init'])).toEqual({ pid1: 'docker-init', zombies: 0 });
    const cmdline = await lk('run', ['--rm', '--init', IMAGE, 'sh', '-c', "tr '\\0' ' ' < /proc/1/cmdline"]);
    expect(cmdline.stdout).toMatch(/^\/run\/init\/docker-init -- sh -c/);
  }, 120_000);

  it('forwards stop\'s SIGTERM to the command, which would ignore it as PID 1', async (t) => {
    if (!ready || !init) return t.skip();
    const started = await lk('run', ['-d', '--init', '--name', 'habits-init', IMAGE, 'sleep', '60']);
    expect(started.status, started.stderr).toBe(0);
    const before = Date.now();
    await lk('stop', ['-t', '20', 'habits-init']);
    expect(Date.now() - before).toBeLessThan(15_000);
    expect((await lk('wait', ['habits-init'])).stdout).toBe('143\n');
    // Nothing of the init reached the container's writable layer.
    expect((await lk('diff', ['habits-init'])).stdout).toBe('');
    await lk('rm', ['habits-init']);
  }, 60_000);
});
