/**
 * Docker's container verbs over a store (`ContainerRuntime`): attached and
 * detached runs in the sandbox's namespaces, `exec` into a running
 * container, `ps`, `logs`, `stop`, a restart keeping the writable layer,
 * `commit` to an image, `cp` both ways, `diff`, `pause`, stdin and a tty,
 * and `rm` — with nothing left running, mounted or in a cgroup afterwards.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContainerError, ContainerRuntime } from '../../src/containers/index.js';
import { humanDuration, statusText } from '../../src/cli/status-text.js';
import { createCgroup, removeCgroup } from '../../src/containers/cgroup.js';
import { copyIntoRoot, resolveInHostRoot } from '../../src/containers/copy-in.js';
import { resolveInRoot } from '../../src/sandbox/rootfs-paths.js';
import { entriesFromDirectory } from '../../src/layers/from-directory.js';
import { UnionFS } from '../../src/unionfs/union.js';
import { sandboxExecutor } from '../../src/sandbox/index.js';
import { ImageStore } from '../../src/image/store/store.js';
import { readTar } from '../../src/layers/tar/read.js';
import { buildText, mountTable, processesWith, sandboxReady, tempDir, writeContext } from './helpers.js';
import { bundleForOthers } from '../support/bundle-for-others.js';

/** Docker's letters for the change kinds, as `layerkit diff` prints them. */
const LETTER = { add: 'A', modify: 'C', delete: 'D' } as const;

let ready = false;
let runtime: ContainerRuntime;
beforeAll(async () => {
  if (!(await sandboxReady('container tests', { overlay: true }))) return;
  const store = new ImageStore(await tempDir('layerkit-containers-'));
  const context = await writeContext({ 'etc/passwd': 'root:x:0:0::/root:/bin/sh\n' });
  await copyFile('/bin/busybox', join(context, 'busybox'));
  await buildText('FROM scratch\nCOPY busybox /bin/busybox\nCOPY etc/ /etc/\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nRUN mkdir -p /srv/old /opt/keep && echo gone > /srv/old/file && echo kept > /opt/keep/a\nENV GREETING=hello\nWORKDIR /srv\nCMD ["sh", "-c", "echo $GREETING from $(pwd)"]\n', {}, {
    executor: sandboxExecutor(),
    store,
    context,
    tags: 'busybox:containers',
  });
  runtime = new ContainerRuntime(store);
  ready = true;
});

// A failed test must not leave its containers running.
afterAll(async () => {
  if (ready) for (const c of await runtime.ps({ all: true })) await runtime.rm(c.id, { force: true });
});

describe('containers: docker run/exec/ps/logs/stop/rm without a daemon', () => {
  it('runs attached with the image config, streams output, returns the exit code', { timeout: 120_000 }, async (t) => {
    if (!ready) return t.skip();
    let output = '';
    const result = await runtime.run('busybox:containers', { rm: true, onOutput: (_s, c) => (output += Buffer.from(c).toString()) });
    expect(result.exitCode).toBe(0);
    expect(output).toBe('hello from /srv\n');
    const failed = await runtime.run('busybox:containers', { cmd: ['sh', '-c', 'echo bye >&2; exit 3'], env: ['GREETING=x'], rm: true });
    expect(failed.exitCode).toBe(3);
    expect((await runtime.ps({ all: true })).length).toBe(0);
  });

  it('detached: ps, exec, logs, stop, restart with the same writable layer, commit, rm', { timeout: 180_000 }, async (t) => {
    if (!ready) return t.skip();
    const mounts = await mountTable();
    const started = await runtime.run('busybox:containers', { detach: true, name: 'web', cmd: ['sh', '-c', 'echo started; exec sleep 4801'] });
    expect(started.status).toBe('running');
    expect(started.pid).toBeGreaterThan(1);
    expect((await runtime.ps()).map((c) => c.name)).toEqual(['web']);

    let out = '';
    const exec = await runtime.exec('web', ['sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "; echo; pwd; echo made > /srv/made.txt'], { onOutput: (_s, c) => (out += Buffer.from(c).toString()) });
    expect(exec.exitCode).toBe(0);
    expect(out).toBe('sleep 4801 \n/srv\n');
    for (let i = 0; i < 100 && !(await runtime.logs('web')).stdout.includes('started'); i++) await new Promise((r) => setTimeout(r, 50));
    expect((await runtime.logs('web')).stdout).toBe('started\n');

    const stopped = await runtime.stop('web', { timeoutMs: 500 });
    expect(stopped.status).toBe('exited');
    // sleep as pid 1 has no SIGTERM handler: killed after the timeout.
    expect(stopped.exitCode).toBe(137);
    expect(await processesWith('sleep 4801')).toEqual([]);

    // A restart keeps the container's writable layer.
    await runtime.start('web');
    let again = '';
    await runtime.exec('web', ['cat', '/srv/made.txt'], { onOutput: (_s, c) => (again += Buffer.from(c).toString()) });
    expect(again).toBe('made\n');
    await runtime.stop('web', { timeoutMs: 0 });

    const layer = await runtime.writableLayer('web', { sourceDateEpoch: 0 });
    const paths: string[] = [];
    for await (const m of readTar(layer!.uncompressed())) paths.push(m.entry.path);
    expect(paths).toEqual(['/srv', '/srv/made.txt']);

    await runtime.rm('web');
    expect(await runtime.ps({ all: true })).toEqual([]);
    expect(await mountTable()).toEqual(mounts);
  });
});

function collect(): { text: () => string; onOutput: (s: 'stdout' | 'stderr', c: Uint8Array) => void } {
  let out = '';
  return { text: () => out, onOutput: (_s, c) => void (out += Buffer.from(c).toString()) };
}

describe('containers: docker commit, cp, diff, pause', () => {
  it('commit makes a tagged image with the container config and layer; a run of it sees the change', { timeout: 180_000 }, async (t) => {
    if (!ready) return t.skip();
    const made = await runtime.run('busybox:containers', {
      name: 'committer',
      env: ['MODE=prod'],
      cmd: ['sh', '-c', 'echo patched > /srv/patch.txt && rm -r /srv/old && rm /opt/keep/a'],
    });
    expect(made.exitCode).toBe(0);
    expect((await runtime.diff('committer')).map((c) => `${LETTER[c.kind]} ${c.path}`)).toEqual(['C /opt', 'C /opt/keep', 'D /opt/keep/a', 'C /srv', 'D /srv/old', 'A /srv/patch.txt']);
    const result = await runtime.commit('committer', { reference: 'patched:v1', message: 'the patch', author: 'tester' });
    expect(result.tags).toEqual(['docker.io/library/patched:v1']);
    expect(result.layer).not.toBeNull();
    const image = await runtime.store.getImage('patched:v1');
    const config = await image.config();
    expect(config.author).toBe('tester');
    const baseEnv = (await (await runtime.store.getImage('busybox:containers')).config()).config?.Env ?? [];
    expect(baseEnv).toContain('GREETING=hello');
    expect(config.config?.Env).toEqual([...baseEnv, 'MODE=prod']);
    expect(config.config?.Cmd).toEqual(['sh', '-c', 'echo patched > /srv/patch.txt && rm -r /srv/old && rm /opt/keep/a']);
    expect(config.config?.WorkingDir).toBe('/srv');
    expect(config.history?.at(-1)).toMatchObject({ created_by: 'sh -c echo patched > /srv/patch.txt && rm -r /srv/old && rm /opt/keep/a', comment: 'the patch', author: 'tester' });
    expect((await image.layers()).length).toBe((await (await runtime.store.getImage('busybox:containers')).layers()).length + 1);

    const seen = collect();
    const again = await runtime.run('patched:v1', { rm: true, cmd: ['sh', '-c', 'cat /srv/patch.txt; ls /srv; ls -A /opt/keep; echo $MODE'], onOutput: seen.onOutput });
    expect(again.exitCode).toBe(0);
    expect(seen.text()).toBe('patched\npatch.txt\nprod\n');

    // Nothing changed: an empty_layer history entry, no layer, as Docker.
    const idle = await runtime.run('busybox:containers', { cmd: ['true'] });
    const empty = await runtime.commit(idle.id, { sourceDateEpoch: 0 });
    expect(empty.layer).toBeNull();
    expect((await (await runtime.store.getImage(empty.id)).config()).history?.at(-1)).toMatchObject({ empty_layer: true, created: '1970-01-01T00:00:00Z' });
    await runtime.rm(idle.id);
    await runtime.rm('committer');
  });

  it('cp copies into the writable layer (stopped and running) and out through the union view, never out of the root', { timeout: 180_000 }, async (t) => {
    if (!ready) return t.skip();
    const host = await tempDir('layerkit-cp-');
    await mkdir(join(host, 'tree/sub'), { recursive: true });
    await writeFile(join(host, 'tree/sub/f.txt'), 'in a tree\n');
    await symlink('sub/f.txt', join(host, 'tree/link'));
    await writeFile(join(host, 'one.txt'), 'one\n', { mode: 0o640 });
    await runtime.create('busybox:containers', { name: 'cp', cmd: ['sh', '-c', 'echo running; exec sleep 4802'] });
    // A symlink leading out of the root must resolve inside it.
    await runtime.start('cp');
    await runtime.exec('cp', ['sh', '-c', 'mkdir /tmp && ln -s / /srv/escape && ln -s ../../../../etc /srv/up']);
    await runtime.stop('cp', { timeoutMs: 0 });

    await runtime.copyIn('cp', join(host, 'tree'), '/srv');
    await runtime.copyIn('cp', join(host, 'one.txt'), '/srv/escape/tmp/one.txt');
    await runtime.copyIn('cp', join(host, 'one.txt'), '/srv/up/one.txt');
    await expect(runtime.copyIn('cp', join(host, 'one.txt'), '/missing/dir/')).rejects.toMatchObject({ code: 'COPY_INVALID' });
    await expect(runtime.copyIn('cp', join(host, 'tree'), '/opt/keep/a')).rejects.toMatchObject({ code: 'COPY_INVALID' });
    expect(existsSync('/tmp/one.txt') && (await readFile('/tmp/one.txt', 'utf8')) === 'one\n').toBe(false);

    await runtime.start('cp');
    await runtime.copyIn('cp', join(host, 'one.txt'), '/opt/keep/a');
    const seen = collect();
    await runtime.exec('cp', ['sh', '-c', 'cat /srv/tree/sub/f.txt /tmp/one.txt /etc/one.txt /opt/keep/a; readlink /srv/tree/link; stat -c "%a %u:%g" /tmp/one.txt'], { onOutput: seen.onOutput });
    expect(seen.text()).toBe('in a tree\none\none\none\nsub/f.txt\n640 0:0\n');
    await runtime.stop('cp', { timeoutMs: 0 });

    const out = await tempDir('layerkit-cp-out-');
    await runtime.copyOut('cp', '/srv/tree', out);
    expect(await readFile(join(out, 'tree/sub/f.txt'), 'utf8')).toBe('in a tree\n');
    expect(await readlink(join(out, 'tree/link'))).toBe('sub/f.txt');
    await runtime.copyOut('cp', '/opt/keep/a', join(out, 'a.txt'));
    expect(await readFile(join(out, 'a.txt'), 'utf8')).toBe('one\n');
    // Through the image's layers too, and through the container's symlinks inside its root.
    await runtime.copyOut('cp', '/srv/escape/etc/passwd', join(out, 'passwd'));
    expect(await readFile(join(out, 'passwd'), 'utf8')).toBe('root:x:0:0::/root:/bin/sh\n');
    await expect(runtime.copyOut('cp', '/srv/nothing', out)).rejects.toBeInstanceOf(ContainerError);
    expect((await lstat(join(out, 'tree'))).isDirectory()).toBe(true);

    expect((await runtime.diff('cp')).map((c) => `${LETTER[c.kind]} ${c.path}`)).toEqual([
      'C /etc',
      'A /etc/one.txt',
      'C /opt',
      'C /opt/keep',
      'C /opt/keep/a',
      'C /srv',
      'A /srv/escape',
      'A /srv/tree',
      'A /srv/tree/link',
      'A /srv/tree/sub',
      'A /srv/tree/sub/f.txt',
      'A /srv/up',
      'A /tmp',
      'A /tmp/one.txt',
    ]);
    await runtime.rm('cp');
  });

  it('pause freezes the container where a cgroup v2 can be had, else says why', { timeout: 120_000 }, async (t) => {
    if (!ready) return t.skip();
    const mounts = await mountTable();
    await runtime.run('busybox:containers', { detach: true, name: 'frozen', cmd: ['sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i > /srv/tick; sleep 0.05; done'] });
    const { id } = await runtime.inspect('frozen');
    const tick = () => readFile(join(runtime.root, id, 'u/srv/tick'), 'utf8').catch(() => '');
    for (let i = 0; i < 100 && (await tick()) === ''; i++) await new Promise((r) => setTimeout(r, 50));
    const probe = await createCgroup('probe-' + process.pid);
    if ('path' in probe) await removeCgroup(probe.path);
    if (!('path' in probe)) {
      if (process.env.CI) console.warn(`no cgroup v2 freezer here: ${probe.reason}`);
      const err = await runtime.pause('frozen').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ContainerError);
      expect(err).toMatchObject({ code: 'FREEZER_UNAVAILABLE' });
      expect((err as Error).message).toContain(probe.reason);
    } else {
      const paused = await runtime.pause('frozen');
      expect(paused.status).toBe('paused');
      expect(statusText(paused)).toMatch(/^Up (Less than a second|\d+ seconds?) \(Paused\)$/);
      expect((await runtime.ps()).map((c) => c.status)).toEqual(['paused']);
      await expect(runtime.exec('frozen', ['true'])).rejects.toMatchObject({ code: 'CONTAINER_PAUSED' });
      await expect(runtime.pause('frozen')).rejects.toMatchObject({ code: 'CONTAINER_PAUSED' });
      const before = await tick();
      await new Promise((r) => setTimeout(r, 400));
      expect(await tick()).toBe(before);
      expect((await runtime.unpause('frozen')).status).toBe('running');
      await new Promise((r) => setTimeout(r, 400));
      expect(await tick()).not.toBe(before);
      await expect(runtime.unpause('frozen')).rejects.toMatchObject({ code: 'CONTAINER_NOT_PAUSED' });
      // rm -f of a paused container thaws and kills it.
      await runtime.pause('frozen');
    }
    const cgroup = JSON.parse(await readFile(join(runtime.root, id, 'state.json'), 'utf8')).cgroup as string | undefined;
    await runtime.rm('frozen', { force: true });
    if (cgroup) expect(existsSync(cgroup)).toBe(false);
    expect(await processesWith('echo $i > /srv/tick')).toEqual([]);
    expect(await mountTable()).toEqual(mounts);
  });

  it('stdin (-i) and a terminal (-t) for attached runs and exec; run -d --rm removes itself', { timeout: 120_000 }, async (t) => {
    if (!ready) return t.skip();
    const piped = collect();
    const run = await runtime.run('busybox:containers', { rm: true, stdin: Readable.from(['one\ntwo\n']), cmd: ['sh', '-c', 'wc -l; tty || true'], onOutput: piped.onOutput });
    expect(run.exitCode).toBe(0);
    expect(piped.text()).toBe('2\nnot a tty\n');
    const tty = collect();
    const onTty = await runtime.run('busybox:containers', { rm: true, tty: true, cmd: ['sh', '-c', 'test -t 0 && test -t 1 && echo "tty $TERM"; exit 4'], onOutput: tty.onOutput });
    expect(onTty.exitCode).toBe(4);
    expect(tty.text()).toBe('tty xterm\r\n');

    await runtime.run('busybox:containers', { detach: true, name: 'shell', cmd: ['sleep', '4803'] });
    const fed = collect();
    expect((await runtime.exec('shell', ['sh', '-c', 'read a; echo "got $a"; exit 3'], { stdin: Readable.from(['hello\n']), onOutput: fed.onOutput })).exitCode).toBe(3);
    expect(fed.text()).toBe('got hello\n');
    const term = collect();
    await runtime.exec('shell', ['sh', '-c', 'test -t 1 && echo yes'], { tty: true, onOutput: term.onOutput });
    expect(term.text()).toBe('yes\r\n');
    await runtime.rm('shell', { force: true });

    const gone = await runtime.run('busybox:containers', { detach: true, rm: true, cmd: ['true'] });
    for (let i = 0; i < 100 && existsSync(join(runtime.root, gone.id)); i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(join(runtime.root, gone.id))).toBe(false);
    expect(await runtime.ps({ all: true })).toEqual([]);
  });

  it('typed errors for names, states and missing containers', { timeout: 60_000 }, async (t) => {
    if (!ready) return t.skip();
    await runtime.create('busybox:containers', { name: 'idle' });
    await expect(runtime.create('busybox:containers', { name: 'idle' })).rejects.toMatchObject({ code: 'NAME_IN_USE' });
    await expect(runtime.create('busybox:containers', { name: '-bad' })).rejects.toMatchObject({ code: 'INVALID_NAME' });
    await expect(runtime.create('busybox:containers', { user: 'nobody' })).rejects.toMatchObject({ code: 'UNKNOWN_USER' });
    await expect(runtime.exec('idle', ['true'])).rejects.toMatchObject({ code: 'CONTAINER_NOT_RUNNING' });
    await expect(runtime.pause('idle')).rejects.toMatchObject({ code: 'CONTAINER_NOT_RUNNING' });
    await expect(runtime.inspect('no-such')).rejects.toMatchObject({ code: 'CONTAINER_NOT_FOUND' });
    expect(statusText(await runtime.inspect('idle'))).toBe('Created');
    await runtime.rm('idle');
  });
});

describe("containers: Docker's status words", () => {
  it('humanDuration follows go-units', () => {
    const s = 1000;
    const cases: Array<[number, string]> = [
      [0, 'Less than a second'],
      [999, 'Less than a second'],
      [1 * s, '1 second'],
      [59 * s, '59 seconds'],
      [60 * s, 'About a minute'],
      [119 * s, 'About a minute'],
      [120 * s, '2 minutes'],
      [59 * 60 * s, '59 minutes'],
      [60 * 60 * s, 'About an hour'],
      [89 * 60 * s, 'About an hour'],
      [90 * 60 * s, '2 hours'],
      [47 * 3600 * s, '47 hours'],
      [48 * 3600 * s, '2 days'],
      [14 * 24 * 3600 * s, '2 weeks'],
      [60 * 24 * 3600 * s, '2 months'],
      [2 * 365 * 24 * 3600 * s, '2 years'],
    ];
    for (const [ms, text] of cases) expect([ms, humanDuration(ms)]).toEqual([ms, text]);
  });

  it('statusText prints ps STATUS', () => {
    const now = Date.parse('2024-01-01T00:10:00Z');
    expect(statusText({ status: 'created' }, now)).toBe('Created');
    expect(statusText({ status: 'running', startedAt: '2024-01-01T00:09:57Z' }, now)).toBe('Up 3 seconds');
    expect(statusText({ status: 'paused', startedAt: '2024-01-01T00:08:00Z' }, now)).toBe('Up 2 minutes (Paused)');
    expect(statusText({ status: 'exited', exitCode: 0, startedAt: '2024-01-01T00:00:00Z', finishedAt: '2024-01-01T00:09:55Z' }, now)).toBe('Exited (0) 5 seconds ago');
    expect(statusText({ status: 'exited', exitCode: 137, finishedAt: '2024-01-01T00:09:00Z' }, now)).toBe('Exited (137) About a minute ago');
  });
});

const repo = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** A child Node process, as `nobody` when the tests run as root: containers in a user namespace. */
const ROOTLESS_CHILD = `
import { writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from ${JSON.stringify(join(repo, 'src/builder/build.ts'))};
import { sandboxExecutor, probeSandbox } from ${JSON.stringify(join(repo, 'src/sandbox/index.ts'))};
import { ContainerRuntime } from ${JSON.stringify(join(repo, 'src/containers/index.ts'))};
import { ImageStore } from ${JSON.stringify(join(repo, 'src/image/store/store.ts'))};

const [dir] = process.argv.slice(2);
const store = new ImageStore(join(dir, 'store'));
await build({
  context: join(dir, 'context'), store, executor: sandboxExecutor(), tags: 'bb:rootless', xattrs: false, sourceDateEpoch: 0,
  dockerfileText: 'FROM scratch\\nCOPY busybox /bin/busybox\\nCOPY etc/ /etc/\\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\\nRUN mkdir /srv && echo old > /srv/old\\nWORKDIR /srv\\n',
});
const rt = new ContainerRuntime(store);
let output = '';
const onOutput = (s, c) => { output += Buffer.from(c).toString(); };
await rt.run('bb:rootless', { detach: true, name: 'w', cmd: ['sh', '-c', 'exec sleep 4804'] });
await rt.exec('w', ['sh', '-c', 'id -u; echo x > /srv/x; rm /srv/old'], { onOutput });
await writeFile(join(dir, 'in.txt'), 'in\\n');
await rt.copyIn('w', join(dir, 'in.txt'), '/srv/');
await rt.exec('w', ['sh', '-c', 'stat -c "%n %u:%g" /srv/in.txt'], { onOutput });
const pause = await rt.pause('w').then((i) => i.status, (e) => e.code + ': ' + e.message);
if (pause === 'paused') await rt.unpause('w');
await rt.stop('w', { timeoutMs: 0 });
await rt.copyIn('w', join(dir, 'in.txt'), '/srv/stopped.txt');
const diff = (await rt.diff('w')).map((c) => ({ add: 'A', modify: 'C', delete: 'D' })[c.kind] + ' ' + c.path);
await rt.copyOut('w', '/srv/x', join(dir, 'x.out'));
const committed = await rt.commit('w', { reference: 'bb:snap' });
await rt.run('bb:snap', { rm: true, cmd: ['sh', '-c', 'ls /srv; stat -c "%u:%g" /srv/stopped.txt'], onOutput });
await rt.rm('w');
console.log(JSON.stringify({ uid: process.getuid(), output, pause, diff, copied: await readFile(join(dir, 'x.out'), 'utf8'), tags: committed.tags, left: (await rt.ps({ all: true })).length }));
`;

describe('containers as a normal user (user namespace)', () => {
  it('run, exec, cp both ways, diff, commit, rm; pause says why it cannot', { timeout: 240_000 }, async (t) => {
    if (!ready) return t.skip();
    const asUser = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'] : [];
    const dir = await tempDir('layerkit-containers-rootless-');
    await chmod(dir, 0o777);
    await mkdir(join(dir, 'context/etc'), { recursive: true });
    await copyFile('/bin/busybox', join(dir, 'context/busybox'));
    await writeFile(join(dir, 'context/etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
    // nobody may not be able to read the checkout: it runs a bundle in the world-readable dir.
    const script = await bundleForOthers(dir, 'child', ROOTLESS_CHILD);
    await mkdir(join(dir, 'store'));
    await chmod(join(dir, 'store'), 0o777);
    const argv = [...asUser, process.execPath, script, dir];
    const stdout = await new Promise<string>((done, fail) => {
      execFile(argv[0]!, argv.slice(1), { cwd: dir, env: { ...process.env, HOME: dir, TMPDIR: dir }, maxBuffer: 1 << 24 }, (err, out, errText) => (err ? fail(new Error(`${err.message}\n${errText}`)) : done(out)));
    });
    const report = JSON.parse(stdout.trim().split('\n').pop()!) as { uid: number; output: string; pause: string; diff: string[]; copied: string; tags: string[]; left: number };
    expect(report.uid).not.toBe(0);
    // Root inside; what cp wrote is owned by root in the container, and in the committed image.
    expect(report.output).toBe('0\n/srv/in.txt 0:0\nin.txt\nstopped.txt\nx\n0:0\n');
    expect(report.diff).toEqual(['C /srv', 'A /srv/in.txt', 'D /srv/old', 'A /srv/stopped.txt', 'A /srv/x']);
    expect(report.copied).toBe('x\n');
    expect(report.tags).toEqual(['docker.io/library/bb:snap']);
    expect(report.left).toBe(0);
    // Unless its cgroup is delegated to the user, a rootless container cannot be frozen, and the error says so.
    expect(report.pause).toMatch(/^(paused|FREEZER_UNAVAILABLE: cannot pause w: .*cgroup.*)$/);
    expect(await processesWith('sleep 4804')).toEqual([]);
  });
});

describe('containers: paths inside a root, resolved without the kernel following symlinks', () => {
  const NAMES = ['a', 'b', 'd', 'f', 'new', 'l1', 'l2'] as const;
  const TARGETS = ['/', '..', '../..', '/a', 'a/b', 'b', '../../../etc', 'l1', 'l2', '/f', '.', 'f/x', '/a/../b', '/host', 'host/sentinel'];
  type Node = { kind: 'dir'; children: Array<[string, Node]> } | { kind: 'file' } | { kind: 'link'; target: string };
  const node: fc.Memo<Node> = fc.memo((depth) =>
    depth <= 1
      ? fc.oneof(fc.constant<Node>({ kind: 'file' }), fc.constantFrom(...TARGETS).map((target): Node => ({ kind: 'link', target })))
      : fc.oneof(
          fc.constant<Node>({ kind: 'file' }),
          fc.constantFrom(...TARGETS).map((target): Node => ({ kind: 'link', target })),
          fc.uniqueArray(fc.tuple(fc.constantFrom(...NAMES), node(depth - 1)), { maxLength: 4, selector: ([n]) => n }).map((children): Node => ({ kind: 'dir', children })),
        ),
  );
  const tree = fc.uniqueArray(fc.tuple(fc.constantFrom(...NAMES), node(3)), { maxLength: 5, selector: ([n]) => n });
  const path = fc.array(fc.constantFrom(...NAMES, 'host', '..', '.'), { minLength: 1, maxLength: 5 }).map((parts) => '/' + parts.join('/'));

  async function write(dir: string, children: Array<[string, Node]>): Promise<void> {
    for (const [name, child] of children) {
      const at = join(dir, name);
      if (child.kind === 'file') await writeFile(at, name);
      else if (child.kind === 'link') await symlink(child.target, at);
      else {
        await mkdir(at);
        await write(at, child.children);
      }
    }
  }

  it('resolveInHostRoot agrees with the sandbox resolver on the union view of the same tree', async () => {
    const base = await tempDir('layerkit-resolve-');
    let n = 0;
    await fc.assert(
      fc.asyncProperty(tree, path, async (children, p) => {
        const root = join(base, String(n++));
        await mkdir(root);
        await write(root, children);
        const view = await UnionFS.open([await entriesFromDirectory(root, { xattrs: false })]);
        const ours = await resolveInHostRoot(root, p).then((r) => ({ path: r.path, type: r.type }), () => 'ELOOP');
        const theirs = await resolveInRoot(view, p).then((r) => ({ path: r.path, type: r.type }), () => 'ELOOP');
        expect(ours).toEqual(theirs);
      }),
      { numRuns: 200 },
    );
  });

  it('copyIntoRoot never writes outside the root, whatever symlinks the root holds', async () => {
    const base = await tempDir('layerkit-jail-');
    const outside = join(base, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'sentinel'), 'untouched');
    const source = join(base, 'source');
    await mkdir(join(source, 'd'), { recursive: true });
    await writeFile(join(source, 'd/new'), 'copied');
    let n = 0;
    const outcomes = { written: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(tree, path, fc.boolean(), async (children, dest, asDirectory) => {
        const root = join(base, `root-${n++}`);
        await mkdir(root);
        // Absolute host paths too: inside the root they must mean the root's own /.
        await write(root, [...children, ['host', { kind: 'link', target: outside }]]);
        const copied = await copyIntoRoot(root, asDirectory ? join(source, 'd') : join(source, 'd/new'), dest).catch((e: unknown) => e);
        expect(await readdir(outside)).toEqual(['sentinel']);
        expect(await readFile(join(outside, 'sentinel'), 'utf8')).toBe('untouched');
        if (typeof copied === 'string') {
          outcomes.written++;
          const info = await lstat(root + copied);
          expect(asDirectory ? info.isDirectory() : info.isFile()).toBe(true);
          expect(await readFile(asDirectory ? join(root + copied, 'new') : root + copied, 'utf8')).toBe('copied');
        } else {
          outcomes.refused++;
          expect(copied).toBeInstanceOf(ContainerError);
        }
      }),
      { numRuns: 200 },
    );
    // Both ways were exercised.
    expect(outcomes.written).toBeGreaterThan(20);
    expect(outcomes.refused).toBeGreaterThan(5);
  });
});
