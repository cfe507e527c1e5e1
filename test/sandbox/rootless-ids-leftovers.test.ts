/**
 * Rootless with subordinate ids, where files of those ids meet the caller
 * outside a namespace: the step directory of a build killed with `kill -9`
 * mid-RUN (the next command's sweep removes it), the writable layer of a
 * `run -t` container (handed back when it stops, as without a terminal),
 * and `cp` into a stopped container's directory that the image gives to
 * another user (written, with the owners a root run gives).
 *
 * As root the test makes a user with a range of its own (removed after); as
 * a user with a range it runs as itself; without one it says why and skips.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleForOthers } from '../support/bundle-for-others.js';
import { sandboxIds } from '../../src/sandbox/id-map.js';
import { probeSandbox } from '../../src/sandbox/probe.js';
import { tempDir, which } from '../builder/helpers.js';
import { busyboxContext, makeRangeUser, removeRangeUser, type TestUser } from './range-user.js';

const run = promisify(execFile);
const repo = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const asRoot = process.getuid?.() === 0;

const CHILD = `
import { build } from ${JSON.stringify(join(repo, 'src/builder/build.ts'))};
import { sandboxExecutor } from ${JSON.stringify(join(repo, 'src/sandbox/index.ts'))};
import { ContainerRuntime } from ${JSON.stringify(join(repo, 'src/containers/index.ts'))};
import { ImageStore } from ${JSON.stringify(join(repo, 'src/image/store/store.ts'))};
import { readTar } from ${JSON.stringify(join(repo, 'src/layers/tar/read.ts'))};
import { lstat, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
const [mode, context, store, extra] = process.argv.slice(2);
const report = { uid: process.getuid(), output: '' };
const output = [];
const onOutput = (_s, c) => output.push(Buffer.from(c).toString());
const image = () => build({
  context, store, dockerfile: mode === 'killed' ? 'killed' : 'app', executor: sandboxExecutor({ strategy: 'overlay' }), sourceDateEpoch: 0, xattrs: false,
  tags: 'ids:' + mode,
  // Said as it comes: the test waits for the RUN's word before it kills this process.
  onEvent: (e) => { if (e.type === 'output') process.stdout.write(Buffer.from(e.chunk).toString()); },
});
async function members(layer) {
  const out = [];
  if (layer) for await (const m of readTar(layer.uncompressed())) out.push(\`\${m.entry.path} \${m.entry.type} \${m.entry.mode.toString(8)} \${m.entry.uid}:\${m.entry.gid}\`);
  return out;
}
/** Paths under dir whose host owner is not this process's uid. */
async function foreign(dir, rel = '') {
  const out = [];
  for (const name of await readdir(join(dir, rel)).catch(() => [])) {
    const st = await lstat(join(dir, rel, name));
    if (st.uid !== process.getuid() || st.gid !== process.getgid()) out.push(rel + '/' + name);
    if (st.isDirectory()) out.push(...(await foreign(dir, rel + '/' + name)));
  }
  return out;
}
try {
  if (mode === 'killed') {
    await image();
  } else {
    await image();
    const runtime = new ContainerRuntime(new ImageStore(store));
    if (mode === 'tty') {
      const info = await runtime.run('ids:tty', { name: 't1', user: 'app', tty: true, cmd: ['sh', '-c', 'echo hi > /home/app/t && mkdir /home/app/td'], onOutput });
      report.exitCodes = [info.exitCode];
      const dir = join(store, 'containers', info.id);
      report.upperExists = (await readdir(join(dir, 'u')).catch(() => [])).length > 0;
      report.foreign = await foreign(join(dir, 'u'));
      report.layer = await members((await runtime.commit('t1', { sourceDateEpoch: 0 })).layer);
      await runtime.rm('t1');
    } else if (mode === 'othermap') {
      // Lowers chowned for another map (as another range would leave them): refused, left as they are.
      const base = join(store, 'layers-extracted');
      const owners = async () => {
        const out = [];
        const walk = async (rel) => {
          for (const name of await readdir(join(base, rel)).catch(() => [])) {
            const st = await lstat(join(base, rel, name));
            out.push(rel + '/' + name + ' ' + st.uid + ':' + st.gid + ' ' + st.mode.toString(8));
            if (st.isDirectory()) await walk(rel + '/' + name);
          }
        };
        await walk('');
        return out;
      };
      let marked = 0;
      for (const hex of await readdir(base)) {
        if (!(await lstat(join(base, hex, 'owners.json')).catch(() => undefined))) continue;
        await writeFile(join(base, hex, 'owners.json'), JSON.stringify({ uids: { start: 300000, count: 65536 }, gids: { start: 300000, count: 65536 } }));
        marked++;
      }
      report.marked = marked;
      const before = await owners();
      try {
        await runtime.run('ids:othermap', { name: 'o1', cmd: ['true'], onOutput });
        report.runError = 'none';
      } catch (err) {
        report.runError = err.code + ' ' + err.message;
      }
      report.unchanged = JSON.stringify(await owners()) === JSON.stringify(before);
      await runtime.rm('o1').catch(() => undefined);
    } else if (mode === 'bind') {
      // -v ./new:/data (made by -v) and a new named volume: the caller's directories, root's inside.
      const cmd = ['sh', '-c', 'stat -c "%u:%g %n" /data /vol && touch /data/x /vol/x'];
      const info = await runtime.run('ids:bind', { name: 'b1', cmd, onOutput, mounts: [
        { type: 'bind', source: join(store, 'new'), target: '/data', createSource: true },
        { type: 'volume', source: 'v1', target: '/vol' },
      ] });
      report.exitCodes = [info.exitCode];
      report.stat = output.join('');
      report.foreign = await foreign(join(store, 'new'), '');
      const own = await lstat(join(store, 'new'));
      report.hostOwner = own.uid + ':' + own.gid;
      await runtime.rm('b1');
    } else if (mode === 'cpdir') {
      // The contents of a directory into an existing one: what the copy does not write keeps its owner.
      const cmd = ['sh', '-c', 'stat -c "%u:%g %a %n" /home/app/keep /home/app/f /home/app/sub/g 2>/dev/null; true'];
      const first = await runtime.run('ids:cpdir', { name: 'c2', cmd, onOutput });
      await runtime.copyIn('c2', extra + '/.', '/home/app');
      output.length = 0;
      const second = await runtime.start('c2', { attach: true, onOutput });
      report.exitCodes = [first.exitCode, second.exitCode];
      report.stat = output.join('');
      report.layer = await members((await runtime.commit('c2', { sourceDateEpoch: 0 })).layer);
      await runtime.rm('c2');
    } else {
      const cmd = ['sh', '-c', 'stat -c "%u:%g %a %n" /home/app /home/app/f /home/app/sub /home/app/sub/g 2>/dev/null; true'];
      const first = await runtime.run('ids:cp', { name: 'c1', cmd, onOutput });
      await runtime.copyIn('c1', extra + '/f', '/home/app/');
      await runtime.copyIn('c1', extra + '/sub', '/home/app/');
      output.length = 0;
      const second = await runtime.start('c1', { attach: true, onOutput });
      report.exitCodes = [first.exitCode, second.exitCode];
      report.stat = output.join('');
      report.layer = await members((await runtime.commit('c1', { sourceDateEpoch: 0 })).layer);
      await runtime.rm('c1');
    }
  }
} catch (err) {
  report.error = { name: err?.name, code: err?.code, message: String(err?.message ?? err) };
}
report.output = output.join('');
console.log('REPORT ' + JSON.stringify(report));
`;

const BASE = `FROM scratch
COPY busybox /bin/busybox
COPY etc/ /etc/
RUN ["/bin/busybox", "--install", "-s", "/bin"]
`;

/** A home that belongs to app (1000), as images with a USER give it. */
const APP = `${BASE}RUN echo 'app:x:1000:1000::/home/app:/bin/sh' >> /etc/passwd && echo 'app:x:1000:' >> /etc/group && mkdir -p /home/app && echo k > /home/app/keep && chown app:app /home/app /home/app/keep
`;

/** Files of a subordinate uid in a directory the caller cannot enter, then a long wait to be killed in. */
const KILLED = `${BASE}RUN mkdir -p /x/y && echo a > /x/y/f && chown -R 1000:1000 /x && chmod 700 /x /x/y && echo written && sleep 60
`;

interface Report {
  uid: number;
  output: string;
  exitCode?: number;
  exitCodes?: number[];
  upperExists?: boolean;
  foreign?: string[];
  layer?: string[];
  stat?: string;
  hostOwner?: string;
  marked?: number;
  runError?: string;
  unchanged?: boolean;
  error?: { name: string; code?: string; message: string };
}

let dir = '';
let script = '';
/** The CLI, bundled: \`node <cli> images --store S\` is the next command. */
let cli = '';
let skipReason: string | undefined;
let rangeUser: TestUser | undefined;

beforeAll(async () => {
  const reasons: string[] = [];
  if (!existsSync('/bin/busybox')) reasons.push('/bin/busybox missing (Debian package busybox-static)');
  if (asRoot && !(await which('setpriv'))) reasons.push('setpriv missing (util-linux)');
  if (!(await which('newuidmap')) || !(await which('newgidmap'))) reasons.push('newuidmap/newgidmap not found (Debian package uidmap)');
  const caps = await probeSandbox();
  if (!caps.available) reasons.push(`no sandbox: ${caps.reason}`);
  if (reasons.length === 0 && !asRoot) {
    const ids = await sandboxIds(caps);
    if (ids?.map) rangeUser = { name: process.env.USER ?? String(process.getuid!()), uid: process.getuid!(), gid: process.getgid!() };
    else reasons.push(ids?.reason ?? 'no subordinate ids');
  }
  if (reasons.length > 0) {
    skipReason = reasons.join('; ');
    if (process.env.CI) throw new Error(skipReason);
    console.warn(`skipping rootless leftover tests: ${skipReason}`);
    return;
  }
  dir = await tempDir('layerkit-rootless-leftovers-');
  await busyboxContext(dir, { app: APP, killed: KILLED });
  // What `cp` copies: a file and a directory with a file, readable by the user.
  await mkdir(join(dir, 'host', 'sub'), { recursive: true });
  await writeFile(join(dir, 'host', 'f'), 'copied\n');
  await writeFile(join(dir, 'host', 'sub', 'g'), 'also\n');
  await chmod(join(dir, 'host'), 0o755);
  await chmod(join(dir, 'host', 'sub'), 0o755);
  script = await bundleForOthers(dir, 'child', CHILD);
  cli = await bundleForOthers(dir, 'layerkit', `import ${JSON.stringify(join(repo, 'src/cli/main.ts'))};\n`);
  if (asRoot) {
    try {
      rangeUser = await makeRangeUser(`lk-left-${process.pid}`);
    } catch (err) {
      skipReason = `cannot add a user with subordinate ids: ${(err as Error).message}`;
      if (process.env.CI) throw new Error(skipReason);
      console.warn(`skipping rootless leftover tests: ${skipReason}`);
    }
  }
}, 120_000);

afterAll(async () => {
  if (rangeUser) expect(await removeRangeUser(rangeUser)).toBe(true);
}, 60_000);

function childArgv(user: TestUser | 'root', mode: string, store: string): string[] {
  const drop = user === 'root' || !asRoot ? [] : ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--'];
  return [...drop, process.execPath, script, mode, join(dir, 'context'), store, join(dir, 'host')];
}

async function newStore(name: string): Promise<string> {
  const store = join(dir, `store-${name}`);
  await mkdir(store);
  await chmod(store, 0o777);
  return store;
}

/** Runs the child to its end and returns its report. */
async function childAs(user: TestUser | 'root', mode: string, store: string): Promise<Report> {
  const argv = childArgv(user, mode, store);
  const { stdout } = await run(argv[0]!, argv.slice(1), { cwd: dir, env: { ...process.env, HOME: dir, TMPDIR: dir }, maxBuffer: 1 << 24 });
  const line = stdout.split('\n').find((l) => l.startsWith('REPORT '));
  return JSON.parse(line!.slice('REPORT '.length)) as Report;
}

/** Every path under `root` with the host uid of each (the test may be root: it can look into anything). */
async function owners(root: string, rel = ''): Promise<Array<{ path: string; uid: number }>> {
  const out: Array<{ path: string; uid: number }> = [];
  for (const name of await readdir(join(root, rel)).catch(() => [] as string[])) {
    const info = await lstat(join(root, rel, name));
    out.push({ path: `${rel}/${name}`, uid: info.uid });
    if (info.isDirectory()) out.push(...(await owners(root, `${rel}/${name}`)));
  }
  return out;
}

/** The pids whose working directory, root or mounts are under `dir` (those this process may look at). */
async function holders(dir: string): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const under = (p: string | undefined) => p !== undefined && (p === dir || p.startsWith(dir + '/'));
    const cwd = await readlink(`/proc/${name}/cwd`).catch(() => undefined);
    const root = await readlink(`/proc/${name}/root`).catch(() => undefined);
    const mounts = await readFile(`/proc/${name}/mountinfo`, 'utf8').catch(() => '');
    if (under(cwd) || under(root) || mounts.includes(dir + '/')) out.push(Number(name));
  }
  return out;
}

/** Waits until no process holds anything under `dir` (a minute at most). */
async function untilUnheld(dir: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if ((await holders(dir)).length === 0) return;
    await new Promise((done) => setTimeout(done, 100));
  }
  throw new Error(`processes still hold ${dir}: ${(await holders(dir)).join(' ')}`);
}

const skip = (t: { skip: () => void }) => {
  console.warn(`skipping: ${skipReason}`);
  t.skip();
};

describe('rootless with subordinate ids: what files of other ids leave behind', () => {
  it('the step directory of a build killed with SIGKILL mid-RUN goes with the next command', { timeout: 300_000 }, async (t) => {
    if (skipReason) return skip(t);
    const user = rangeUser!;
    const store = await newStore('killed');
    const argv = childArgv(user, 'killed', store);
    const child = spawn(argv[0]!, argv.slice(1), { cwd: dir, env: { ...process.env, HOME: dir, TMPDIR: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<void>((done) => child.on('close', () => done()));
    let out = '';
    await new Promise<void>((done, fail) => {
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('written')) done();
      });
      child.on('close', () => fail(new Error(`the build ended before its RUN wrote: ${out}`)));
    });
    // setpriv execs node: the pid is the build's own process.
    child.kill('SIGKILL');
    await exited;
    // The sandbox dies with it (parent-death signal); wait until nothing holds the step's mounts.
    const tmp = join(store, 'tmp');
    await untilUnheld(tmp);
    const left = await owners(tmp);
    // The killed RUN left files of a subordinate uid that the user cannot remove by itself.
    expect(left.some((e) => e.uid !== user.uid && e.path.startsWith('/step-'))).toBe(true);
    const drop = asRoot ? ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--'] : [];
    const images = [...drop, process.execPath, cli, 'images', '--store', store];
    await run(images[0]!, images.slice(1), { cwd: dir, env: { ...process.env, HOME: dir, TMPDIR: dir } });
    expect(await readdir(tmp).catch(() => [])).toEqual([]);
  });

  it('a run -t container hands its writable layer back to the caller when it stops, and commit keeps the owners', { timeout: 300_000 }, async (t) => {
    if (skipReason) return skip(t);
    const report = await childAs(rangeUser!, 'tty', await newStore('tty'));
    expect(report.error, report.output).toBeUndefined();
    expect(report.exitCodes, report.output).toEqual([0]);
    expect(report.upperExists).toBe(true);
    expect(report.foreign).toEqual([]);
    expect(report.layer).toEqual(expect.arrayContaining(['/home/app/t file 644 1000:1000', '/home/app/td dir 755 1000:1000']));
  });

  it('cp into a stopped container writes a directory of another user, with the owners a root run gives', { timeout: 300_000 }, async (t) => {
    if (skipReason) return skip(t);
    const report = await childAs(rangeUser!, 'cp', await newStore('cp'));
    expect(report.error, report.output).toBeUndefined();
    expect(report.exitCodes).toEqual([0, 0]);
    // Inside the container: the home still app's, what cp wrote root's (docker cp without -a).
    expect(report.stat).toBe('1000:1000 755 /home/app\n0:0 644 /home/app/f\n0:0 755 /home/app/sub\n0:0 644 /home/app/sub/g\n');
    expect(report.layer).toEqual(
      expect.arrayContaining(['/home/app dir 755 1000:1000', '/home/app/f file 644 0:0', '/home/app/sub dir 755 0:0', '/home/app/sub/g file 644 0:0']),
    );
    if (asRoot) {
      const root = await childAs('root', 'cp', await newStore('cp-root'));
      expect(root.error, root.output).toBeUndefined();
      expect(report.stat).toBe(root.stat);
      expect([...report.layer!].sort()).toEqual([...root.layer!].sort());
    }
  });

  it('-v with a new host directory and a new named volume: the directories stay the caller\'s, root\'s inside', { timeout: 300_000 }, async (t) => {
    if (skipReason) return skip(t);
    const report = await childAs(rangeUser!, 'bind', await newStore('bind'));
    expect(report.error, report.output).toBeUndefined();
    expect(report.exitCodes, report.output).toEqual([0]);
    expect(report.stat).toBe('0:0 /data\n0:0 /vol\n');
    expect(report.hostOwner).toBe(`${rangeUser!.uid}:${rangeUser!.gid}`);
    expect(report.foreign).toEqual([]);
  });

  it('lowers given the owners of another map are refused, never chowned again under whoever uses them', { timeout: 300_000 }, async (t) => {
    if (skipReason) return skip(t);
    const report = await childAs(rangeUser!, 'othermap', await newStore('othermap'));
    expect(report.error, report.output).toBeUndefined();
    expect(report.marked).toBeGreaterThan(0);
    expect(report.runError).toMatch(/^SANDBOX_SETUP_FAILED .*another subordinate id map/);
    expect(report.unchanged).toBe(true);
  });

  it('cp of a directory\'s contents into an existing directory leaves the files it does not write with their owners', { timeout: 300_000 }, async (t) => {
    if (skipReason) return skip(t);
    const report = await childAs(rangeUser!, 'cpdir', await newStore('cpdir'));
    expect(report.error, report.output).toBeUndefined();
    expect(report.exitCodes).toEqual([0, 0]);
    expect(report.stat).toBe('1000:1000 644 /home/app/keep\n0:0 644 /home/app/f\n0:0 644 /home/app/sub/g\n');
    expect(report.layer).toEqual(expect.arrayContaining(['/home/app/f file 644 0:0', '/home/app/sub/g file 644 0:0']));
    expect(report.layer!.filter((m) => m.startsWith('/home/app/keep '))).toEqual([]);
    if (asRoot) {
      const root = await childAs('root', 'cpdir', await newStore('cpdir-root'));
      expect(root.error, root.output).toBeUndefined();
      expect(report.stat).toBe(root.stat);
      expect([...report.layer!].sort()).toEqual([...root.layer!].sort());
    }
  });
});
