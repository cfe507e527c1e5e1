/**
 * Rootless RUN as a real unprivileged user, through the real program
 * (`build()` with the sandbox executor in a child Node process run as that
 * user). With subordinate ids (`/etc/subuid`, `/etc/subgid`) the layers a
 * rootless build makes — chown, `install -o`, a user added by a RUN and its
 * files, supplementary groups, the hostname — are the layers a root build
 * makes, owner for owner. Without them (`nobody`) what needs other ids fails
 * with the command's own error, and the rest works.
 *
 * As root the test makes a user with a range of its own (removed after) and
 * compares with a root build; as a user with a range it runs as itself;
 * without one it says so and skips those tests.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, realpath } from 'node:fs/promises';
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
import { applyOwners, sandboxIds } from ${JSON.stringify(join(repo, 'src/sandbox/id-map.ts'))};
import { probeSandbox } from ${JSON.stringify(join(repo, 'src/sandbox/probe.ts'))};
import { lstatSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { readTar } from ${JSON.stringify(join(repo, 'src/layers/tar/read.ts'))};
const [context, store, strategy, dockerfile] = process.argv.slice(2);
const output = [];
const report = { uid: process.getuid(), layers: [], files: {}, output: '' };
const container = dockerfile.startsWith('container:');
if (dockerfile === 'guard') {
  // A tree whose symlink leads to a directory of the caller: the owner pass must not follow it.
  const caps = await probeSandbox();
  const ids = await sandboxIds(caps);
  const root = store + '/tree';
  mkdirSync(root + '/real', { recursive: true });
  mkdirSync(store + '/mine');
  writeFileSync(store + '/mine/file', 'x');
  symlinkSync(store + '/mine', root + '/esc');
  writeFileSync(root + '/real/file', 'x');
  await applyOwners(ids.map, caps.tools, root, [
    { path: 'esc/file', uid: 5, gid: 5, mode: 0o644, symlink: false },
    { path: 'real/file', uid: 5, gid: 5, mode: 0o644, symlink: false },
  ], store + '/lists');
  const owner = (p) => { const st = lstatSync(p); return st.uid + ':' + st.gid; };
  console.log(JSON.stringify({ uid: process.getuid(), layers: [], files: { mine: owner(store + '/mine/file'), real: owner(root + '/real/file') }, output: '' }));
  process.exit(0);
}
try {
  const result = await build({
    context, store, dockerfile: container ? dockerfile.slice('container:'.length) : dockerfile, executor: sandboxExecutor({ strategy }), sourceDateEpoch: 0, xattrs: false, noCache: true,
    tags: 'ids:test',
    onEvent: (e) => { if (e.type === 'output') output.push(Buffer.from(e.chunk).toString()); },
  });
  let layers = (await result.image.layers()).slice(4);
  if (container) {
    // A container as app (its groups), started twice: the second start writes what the first made (its owners kept).
    const runtime = new ContainerRuntime(new ImageStore(store));
    const cmd = ['sh', '-c', 'id >> /home/app/cid.txt && mkdir -p /home/app/cd && chgrp extra /home/app/cd && touch /srv/g'];
    const first = await runtime.run('ids:test', { name: 'c1', user: 'app', cmd });
    const second = await runtime.start('c1', { attach: true });
    report.exitCodes = [first.exitCode, second.exitCode];
    const committed = await runtime.commit('c1', { sourceDateEpoch: 0 });
    layers = committed.layer ? [committed.layer] : [];
    report.remove = () => runtime.rm('c1');
  }
  for (const layer of layers) {
    const members = [];
    for await (const m of readTar(layer.uncompressed())) {
      members.push(\`\${m.entry.path} \${m.entry.type} \${m.entry.mode.toString(8)} \${m.entry.uid}:\${m.entry.gid}\`);
      if (m.entry.type === 'file' && m.entry.size < 256) {
        const chunks = [];
        for await (const c of m.body) chunks.push(c);
        report.files[m.entry.path] = Buffer.concat(chunks).toString();
      }
    }
    report.layers.push(members);
  }
  await report.remove?.();
  delete report.remove;
} catch (err) {
  report.error = { name: err?.name, code: err?.code, message: String(err?.message ?? err) };
}
report.output = output.join('');
console.log(JSON.stringify(report));
`;

const BASE = `FROM scratch
COPY busybox /bin/busybox
COPY etc/ /etc/
COPY host/ /
RUN ["/bin/busybox", "--install", "-s", "/bin"]
`;

/** What needs ids other than the caller's: a user added by a RUN, chown, install -o, supplementary groups. */
const IDS = `${BASE}RUN echo 'app:x:1000:1000::/home/app:/bin/sh' >> /etc/passwd && printf 'app:x:1000:\\nextra:x:2000:app\\n' >> /etc/group \\
 && mkdir -p /home/app /srv && echo x > /srv/f && chown 1:2 /srv/f && install -o 1000 -g 2000 -m 0640 /srv/f /srv/g \\
 && chown -R app:app /home/app && chmod 4755 /srv/f && hostname > /srv/hostname
USER app
RUN id > /home/app/id.txt && touch /home/app/mine && mkdir /home/app/d && chgrp extra /home/app/d && cat /srv/g > /home/app/g.txt
USER root
RUN echo more >> /srv/g && chown 3:4 /home/app/mine && chmod 2750 /home/app/d
USER app
RUN --mount=type=cache,target=/home/app/.cache,uid=1000,gid=2000 touch /home/app/.cache/x /home/app/beside-the-mount && stat -c '%u:%g' /home/app/.cache /home/app/.cache/x > /home/app/cache.txt
`;

/** What works with one id mapped: root's own files, a USER without groups of its own, the hostname. */
const ONE_ID = `${BASE}RUN echo 'app:x:1000:1000::/home/app:/bin/sh' >> /etc/passwd && mkdir -p /srv && hostname > /srv/hostname && echo x > /srv/f
USER app
WORKDIR /home/app
RUN id -u > mine
USER root
RUN rm -rf /home/app
USER app
RUN pwd > again
`;

const CHOWN = `${BASE}RUN echo x > /f && chown 1:2 /f\n`;
const BEYOND = `${BASE}USER 70000\nRUN true\n`;

interface Report {
  uid: number;
  layers: string[][];
  exitCodes?: number[];
  /** Small files of the layers (the last layer's wins). */
  files: Record<string, string>;
  output: string;
  error?: { name: string; code?: string; message: string };
}

let dir = '';
let script = '';
/** Why the tests that need a range cannot run, if they cannot. */
let noRange: string | undefined;
/** Why nothing can run. */
let notReady: string | undefined;
let rangeUser: TestUser | undefined;

beforeAll(async () => {
  const reasons: string[] = [];
  if (!existsSync('/bin/busybox')) reasons.push('/bin/busybox missing (Debian package busybox-static)');
  if (asRoot && !(await which('setpriv'))) reasons.push('setpriv missing (util-linux)');
  const caps = await probeSandbox();
  if (!caps.available) reasons.push(`no sandbox: ${caps.reason}`);
  if (reasons.length > 0) {
    notReady = reasons.join('; ');
    if (process.env.CI) throw new Error(notReady);
    console.warn(`skipping rootless id tests: ${notReady}`);
    return;
  }
  dir = await tempDir('layerkit-rootless-ids-');
  const context = await busyboxContext(dir, { ids: IDS, 'one-id': ONE_ID, chown: CHOWN, beyond: BEYOND });
  // busybox has no install applet: the host's coreutils install, with its libraries at their paths.
  await copyWithLibraries('/usr/bin/install', join(context, 'host'), '/usr/local/bin/install');
  // The user may not be able to read the checkout: it runs a bundle in the world-readable dir.
  script = await bundleForOthers(dir, 'child', CHILD);

  const helpers = !(await which('newuidmap')) || !(await which('newgidmap')) ? 'newuidmap/newgidmap not found (Debian package uidmap)' : undefined;
  if (asRoot && helpers) {
    noRange = helpers;
    if (process.env.CI) throw new Error(noRange);
  } else if (asRoot) {
    try {
      rangeUser = await makeRangeUser(`lk-ids-${process.pid}`);
    } catch (err) {
      noRange = `cannot add a user with subordinate ids: ${(err as Error).message}`;
      if (process.env.CI) throw new Error(noRange);
    }
  } else {
    const ids = await sandboxIds(caps);
    if (ids?.map) rangeUser = { name: process.env.USER ?? String(process.getuid!()), uid: process.getuid!(), gid: process.getgid!() };
    else noRange = ids?.reason ?? 'no subordinate ids';
  }
  if (noRange) console.warn(`rootless id tests that need subordinate ids skip: ${noRange}`);
}, 120_000);

afterAll(async () => {
  // Nothing of the test user stays: no passwd entry, no range.
  if (rangeUser) expect(await removeRangeUser(rangeUser)).toBe(true);
}, 60_000);

/** Copies `program` to `target` under `root`, and the libraries `ldd` lists at their own paths. */
async function copyWithLibraries(program: string, root: string, target: string): Promise<void> {
  const { stdout } = await run('ldd', [program]);
  const files: Array<[string, string]> = [[program, target]];
  for (const line of stdout.split('\n')) {
    const path = /=>\s*(\/\S+)/.exec(line)?.[1] ?? /^\s*(\/\S+)/.exec(line)?.[1];
    if (path) files.push([path, path]);
  }
  for (const [from, to] of files) {
    await mkdir(join(root, to, '..'), { recursive: true });
    await copyFile(await realpath(from), join(root, to));
  }
}

/** Runs the child build as `user` (root when undefined, the test's own user when it is the caller). */
async function buildAs(user: { uid: number; gid: number } | 'root' | 'nobody' | 'self', dockerfile: string, strategy: 'overlay' | 'copy'): Promise<Report> {
  const store = join(dir, `store-${typeof user === 'string' ? user : user.uid}-${strategy}-${dockerfile}`);
  await mkdir(store);
  await chmod(store, 0o777);
  const drop =
    user === 'root' || user === 'self'
      ? []
      : user === 'nobody'
        ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--']
        : ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--'];
  const argv = [...drop, process.execPath, script, join(dir, 'context'), store, strategy, dockerfile];
  const { stdout } = await run(argv[0]!, argv.slice(1), { cwd: dir, env: { ...process.env, HOME: dir, TMPDIR: dir }, maxBuffer: 1 << 24 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as Report;
}

/** The user with a range, as buildAs takes it. */
const ranged = () => (asRoot ? rangeUser! : 'self');

describe('rootless RUN with subordinate ids (/etc/subuid, /etc/subgid)', () => {
  for (const strategy of ['overlay', 'copy'] as const) {
    it(`chown, install -o, a user added by a RUN, supplementary groups and the hostname: the layers a root build makes (${strategy})`, { timeout: 300_000 }, async (t) => {
      if (notReady) return t.skip();
      if (noRange) {
        console.warn(`skipping: ${noRange}`);
        return t.skip();
      }
      const report = await buildAs(ranged(), 'ids', strategy);
      expect(report.error, report.output).toBeUndefined();
      expect(report.uid).not.toBe(0);
      const layers = report.layers;
      expect(layers[0]).toEqual(
        expect.arrayContaining([
          '/home/app dir 755 1000:1000',
          '/srv/f file 4755 1:2',
          '/srv/g file 640 1000:2000',
          '/srv/hostname file 644 0:0',
        ]),
      );
      expect(layers[1]).toEqual(
        expect.arrayContaining(['/home/app/d dir 755 1000:2000', '/home/app/g.txt file 644 1000:1000', '/home/app/id.txt file 644 1000:1000', '/home/app/mine file 644 1000:1000']),
      );
      expect(layers[2]).toEqual(expect.arrayContaining(['/home/app/d dir 2750 1000:2000', '/home/app/mine file 644 3:4', '/srv/g file 640 1000:2000']));
      // The hostname BuildKit gives a step, set in the step's own UTS namespace; USER app with its groups.
      expect(report.files['/srv/hostname']).toBe('buildkitsandbox\n');
      expect(report.files['/home/app/id.txt']).toBe('uid=1000(app) gid=1000(app) groups=1000(app),2000(extra)\n');
      expect(report.files['/home/app/g.txt']).toBe('x\n');
      // A new cache mount gets the mount's owner; what app writes there is app's (its primary group).
      expect(report.files['/home/app/cache.txt']).toBe('1000:2000\n1000:1000\n');
      // The mount point's parent (a stub over the image's directory) is still app's.
      expect(layers[3]).toEqual(expect.arrayContaining(['/home/app/beside-the-mount file 644 1000:1000']));
      if (asRoot) {
        const root = await buildAs('root', 'ids', strategy);
        expect(root.error).toBeUndefined();
        expect(report.layers).toEqual(root.layers);
      }
    });
  }

  it('refuses a USER beyond the range with a clear error before anything runs', { timeout: 300_000 }, async (t) => {
    if (notReady) return t.skip();
    if (noRange) {
      console.warn(`skipping: ${noRange}`);
      return t.skip();
    }
    const beyond = await buildAs(ranged(), 'beyond', 'overlay');
    expect(beyond.error?.code).toBe('USER_UNSUPPORTED');
    expect(beyond.error?.message).toMatch(/uid 70000 is beyond the \d+ subordinate uids/);
  });
});

describe('the owner pass of a rootless sandbox', () => {
  it('never follows a symlink of the tree to a file of the caller', { timeout: 120_000 }, async (t) => {
    if (notReady) return t.skip();
    if (noRange) {
      console.warn(`skipping: ${noRange}`);
      return t.skip();
    }
    const report = await buildAs(ranged(), 'guard', 'overlay');
    const me = `${report.uid}:${asRoot ? rangeUser!.gid : process.getgid!()}`;
    // The file inside the tree went to namespace id 5 (a subordinate id on the host); the caller's own stayed its own.
    expect(report.files.mine).toBe(me);
    expect(report.files.real).not.toBe(me);
  });
});

describe('rootless containers with subordinate ids', () => {
  it('a USER with supplementary groups writes its files, keeps them across starts, and commit records the owners a root run gives', { timeout: 300_000 }, async (t) => {
    if (notReady) return t.skip();
    if (noRange) {
      console.warn(`skipping: ${noRange}`);
      return t.skip();
    }
    const report = await buildAs(ranged(), 'container:ids', 'overlay');
    expect(report.error, report.output).toBeUndefined();
    expect(report.exitCodes).toEqual([0, 0]);
    expect(report.files['/home/app/cid.txt']).toBe('uid=1000(app) gid=1000(app) groups=1000(app),2000(extra)\n'.repeat(2));
    expect(report.layers[0]).toEqual(expect.arrayContaining(['/home/app/cd dir 755 1000:2000', '/home/app/cid.txt file 644 1000:1000']));
    if (asRoot) {
      const root = await buildAs('root', 'container:ids', 'overlay');
      expect(root.error).toBeUndefined();
      expect(report.layers).toEqual(root.layers);
    }
  });
});

describe('rootless RUN with one id mapped (no subordinate ids)', () => {
  it('works for root and a USER of its own; chown fails with the command\'s error, not a crash', { timeout: 300_000 }, async (t) => {
    if (notReady) return t.skip();
    // As root: nobody, who has no range; as another user: that user, when it has none.
    const who = asRoot ? 'nobody' : 'self';
    if (!asRoot) {
      const ids = await sandboxIds(await probeSandbox());
      if (ids?.map) {
        console.warn('skipping: this user has subordinate ids (the one-id map is tested as root, through nobody)');
        return t.skip();
      }
    }
    const report = await buildAs(who, 'one-id', 'overlay');
    expect(report.error, report.output).toBeUndefined();
    expect(report.uid).not.toBe(0);
    expect(report.layers[0]).toEqual(expect.arrayContaining(['/srv/hostname file 644 0:0', '/srv/f file 644 0:0']));
    expect(report.files['/srv/hostname']).toBe('buildkitsandbox\n');
    // WORKDIR makes /home/app for app; the RUN's file is app's.
    expect(report.layers.flat()).toEqual(expect.arrayContaining(['/home/app dir 755 1000:1000', '/home/app/mine file 644 1000:1000']));
    expect(report.files['/home/app/mine']).toBe('1000\n');
    // A workdir a RUN removed is made again for the next one, the user's (it cannot be chowned: it is the caller's).
    expect(report.layers.at(-1)).toEqual(expect.arrayContaining(['/home/app dir 755 1000:1000', '/home/app/again file 644 1000:1000']));
    expect(report.files['/home/app/again']).toBe('/home/app\n');
    const chown = await buildAs(who, 'chown', 'overlay');
    expect(chown.error?.name).toBe('RunFailedError');
    expect(chown.error?.message).toMatch(/exit code: 1|chown/);
  });
});
