/**
 * Containers' isolation from the host, through the CLI and on real
 * processes: device nodes made inside cannot be opened, `-u` beyond runc's
 * range is refused, an attached `run` killed with SIGKILL takes its
 * processes with it and `ps` says so, the default network is a namespace of
 * its own (slirp4netns, the host's loopback out of reach) with `-p`
 * publishing, `--network none|host`, the hostname is the short ID (or
 * `--hostname`) with HOSTNAME and HOME in the environment, and `exec` works
 * rootless (as `nobody` through setpriv).
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContainerError, ContainerRuntime } from '../../src/containers/index.js';
import { sandboxExecutor } from '../../src/sandbox/index.js';
import type { CliIo } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import { ImageStore } from '../../src/image/store/store.js';
import { buildText, processesWith, sandboxReady, tempDir, which, writeContext } from '../builder/helpers.js';
import { eventually, hostAddress, httpServer, layerkit, repo, userNetworkReady } from '../builder/sandbox-isolation-helpers.js';
import { bundleForOthers } from '../support/bundle-for-others.js';

const IMAGE = 'busybox:isolation-cli';
const PASSWD = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n';
let ready = false;
let store = '';

beforeAll(async () => {
  if (!(await sandboxReady('container isolation tests', { overlay: true }))) return;
  store = await tempDir('layerkit-cli-isolation-');
  const context = await writeContext({ 'etc/passwd': PASSWD, 'etc/group': 'root:x:0:\napp:x:1000:\n' });
  await copyFile('/bin/busybox', join(context, 'busybox'));
  await buildText(
    'FROM scratch\nCOPY busybox /bin/busybox\nCOPY etc/ /etc/\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nRUN mkdir /www && echo published-page > /www/index.html\nCMD ["sh"]\n',
    {},
    { executor: sandboxExecutor(), store: new ImageStore(store), context, tags: IMAGE },
  );
  ready = true;
}, 180_000);

afterAll(async () => {
  if (!ready) return;
  const ids = (await cli('ps', '-a', '-q', '--no-trunc')).stdout.split('\n').filter(Boolean);
  if (ids.length > 0) await cli('rm', '-f', ...ids);
});

interface Result {
  status: number;
  stdout: string;
  stderr: string;
}

/** `layerkit VERB --store STORE ARGS` in this process. */
async function cli(verb: string, ...args: string[]): Promise<Result> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), readText: (p) => readFile(p, 'utf8') };
  const status = await main([verb, '--store', store, ...args], io);
  return { status, stdout, stderr };
}

/** `run --rm IMAGE sh -c SCRIPT` with extra options; the output. */
async function runSh(options: string[], script: string): Promise<Result> {
  return cli('run', '--rm', ...options, IMAGE, 'sh', '-c', script);
}

const fetchFrom = (host: string, port: number) => `r=$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${host} ${port} 2>/dev/null | tail -n 1); echo "\${r:-unreachable}"`;

describe('containers: host devices', () => {
  it('a node root makes (loop 7:0, tun 10:200, fuse 10:229) cannot be opened; /dev holds Docker\'s few devices', { timeout: 60_000 }, async (t) => {
    if (!ready) return t.skip();
    const tries = [
      ['/loop0', 'b 7 0'],
      ['/dev/tun', 'c 10 200'],
      ['/dev/shm/fuse', 'c 10 229'],
      ['/tmp/fuse', 'c 10 229'],
    ]
      .map(([path, dev]) => `mkdir -p /tmp; mknod ${path} ${dev} 2>/dev/null; if (exec 3<>${path}) 2>/dev/null; then echo "OPENED ${path}"; else (exec 3<>${path}) 2>&1 | sed "s|.*: ||; s|^|${path}: |"; fi`)
      .join('; ');
    const result = await runSh([], `ls /dev | tr '\\n' ' '; echo; ${tries}`);
    expect(result.status).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[0]!.trim().split(' ')).toEqual(['core', 'fd', 'full', 'mqueue', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero']);
    expect(result.stdout).not.toContain('OPENED');
    for (const path of ['/loop0', '/dev/tun', '/dev/shm/fuse', '/tmp/fuse']) expect(lines).toContain(`${path}: Permission denied`);
  });
});

describe('containers: user ids', () => {
  for (const user of ['4294967296', '99999999999', '0:4294967296', '2147483648:0']) {
    it(`run -u ${user} is refused (125, a clear message), nothing runs`, { timeout: 60_000 }, async (t) => {
      if (!ready) return t.skip();
      const result = await runSh(['-u', user], 'echo ran; id -u');
      expect(result.status).toBe(125);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/^layerkit run: invalid user ".*": (uid|gid) \d+ is out of range: user and group ids must be within 0…2147483647\n$/);
    });
  }

  it('the API says INVALID_USER_ID; 2147483647 still runs as itself', { timeout: 60_000 }, async (t) => {
    if (!ready) return t.skip();
    const runtime = new ContainerRuntime(new ImageStore(store));
    const err = await runtime.create(IMAGE, { user: '4294967296' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ContainerError);
    expect((err as ContainerError).code).toBe('INVALID_USER_ID');
    expect((await runSh(['-u', '2147483647:2147483647'], 'id -u; id -g')).stdout).toBe('2147483647\n2147483647\n');
  });
});

describe('containers: process lifetime and ps', () => {
  it('kill -9 of an attached `layerkit run` kills the container\'s processes; ps -a says Exited (137)', { timeout: 120_000 }, async (t) => {
    if (!ready) return t.skip();
    const marker = `49${process.pid % 1000}`;
    // Computed in the container: the numbers are not in the CLI's own command line.
    const cli1 = layerkit(['run', '--store', store, '--name', 'killed', IMAGE, 'sh', '-c', `sleep $((${marker}0 + 2)) & exec sleep $((${marker}0 + 3))`]);
    try {
      expect(await eventually(async () => (await processesWith(`sleep ${marker}3`)).length > 0, 60_000)).toBe(true);
      cli1.child.kill('SIGKILL');
      await cli1.done;
      expect(await eventually(async () => (await processesWith(`sleep ${marker}`)).length === 0, 5000)).toBe(true);
      const ps = await cli('ps', '-a');
      expect(ps.stdout, ps.stdout).toMatch(/Exited \(137\)\s+killed\n/);
    } finally {
      for (const pid of await processesWith(`sleep ${marker}`)) process.kill(pid, 'SIGKILL');
    }
  });

  it('ps reports running while the init lives, whoever started it, and exited once it is gone (pid reuse included)', { timeout: 60_000 }, async (t) => {
    if (!ready) return t.skip();
    const created = await cli('create', '--name', 'orphan', IMAGE, 'true');
    const id = created.stdout.trim();
    const dir = join(store, 'containers', id);
    // A live process stands for the container's init; its starter (a dead pid) is gone.
    const init = spawn('sleep', ['4997'], { stdio: 'ignore' });
    const stat = readFileSync(`/proc/${init.pid}/stat`, 'utf8');
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    const dead = spawn('true');
    await new Promise((r) => dead.on('close', r));
    try {
      await writeFile(join(dir, 'state.json'), JSON.stringify({ startedAt: new Date().toISOString(), supervisorPid: dead.pid }));
      await writeFile(join(dir, 'status'), `pid ${init.pid} ${start}\nexec\n`);
      expect((await cli('ps')).stdout).toMatch(/Up .*\s+orphan\n/);
      // The same pid with another start time is another process: the container's is gone.
      await writeFile(join(dir, 'status'), `pid ${init.pid} ${Number(start) + 1}\nexec\n`);
      expect((await cli('ps')).stdout).not.toContain('orphan');
      expect((await cli('ps', '-a')).stdout).toMatch(/Exited \(137\)\s+orphan\n/);
    } finally {
      init.kill('SIGKILL');
    }
  });
});

describe('containers: network', () => {
  let loopback: Awaited<ReturnType<typeof httpServer>> | undefined;
  let outside: Awaited<ReturnType<typeof httpServer>> | undefined;
  const address = hostAddress();
  beforeAll(async () => {
    loopback = await httpServer('127.0.0.1', 'host-loopback-service');
    if (address) outside = await httpServer(address, 'host-outside-service');
  });
  afterAll(async () => {
    await loopback?.close();
    await outside?.close();
  });

  it('default (bridge): a namespace of its own, the host\'s loopback out of reach, out through the gateway', { timeout: 60_000 }, async (t) => {
    if (!ready || !(await userNetworkReady('container network tests'))) return t.skip();
    const port = loopback!.port;
    const script = [fetchFrom('127.0.0.1', port), fetchFrom('10.0.2.2', port), 'ip route | grep default', "ip -o link | cut -d: -f2 | tr -d ' ' | sort | tr '\\n' ' '; echo", ...(outside ? [fetchFrom(address!, outside.port)] : [])].join('; ');
    const result = await runSh([], script);
    expect(result.status).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines.slice(0, 2)).toEqual(['unreachable', 'unreachable']);
    expect(lines[2]).toMatch(/^default via 10\.0\.2\.2 dev tap0/);
    expect(lines[3]!.trim()).toBe('lo tap0');
    if (outside) expect(lines[4]).toBe('host-outside-service');
    expect((await runSh(['--network', 'bridge'], fetchFrom('127.0.0.1', port))).stdout).toBe('unreachable\n');
  });

  it('-p publishes a container port (busybox httpd) on the host; the port goes with the container', { timeout: 60_000 }, async (t) => {
    if (!ready || !(await userNetworkReady('container network tests'))) return t.skip();
    const free = await httpServer('127.0.0.1', '');
    const hostPort = free.port;
    await free.close();
    const started = await cli('run', '-d', '--name', 'web', '-p', `127.0.0.1:${hostPort}:80`, IMAGE, 'httpd', '-f', '-p', '80', '-h/www');
    expect(started.status).toBe(0);
    try {
      const page = await fetch(`http://127.0.0.1:${hostPort}/index.html`).then((r) => r.text());
      expect(page).toBe('published-page\n');
      // nc listening inside, on another published port.
      const nc = await cli('run', '-d', '--name', 'nc', '-p', `${hostPort + 1}:7000/tcp`, IMAGE, 'sh', '-c', 'echo from-nc | nc -l -p 7000');
      expect(nc.status).toBe(0);
      const got = await new Promise<string>((resolve, reject) => {
        const child = execFile('busybox', ['nc', '127.0.0.1', String(hostPort + 1)], { timeout: 10_000 }, (err, stdout) => (err && stdout === '' ? reject(err) : resolve(stdout)));
        child.stdin!.end();
      });
      expect(got).toBe('from-nc\n');
    } finally {
      await cli('rm', '-f', 'web', 'nc');
    }
    await expect(fetch(`http://127.0.0.1:${hostPort}/index.html`)).rejects.toThrow();
    // A bad -p is a usage error before anything runs.
    const bad = await runSh(['-p', '80'], 'true');
    expect(bad.status).toBe(125);
    expect(bad.stderr).toContain('a host port is required');
  });

  it('--network none has only lo; --network host sees the host\'s loopback', { timeout: 60_000 }, async (t) => {
    if (!ready) return t.skip();
    expect((await runSh(['--network', 'none'], "ip -o link | cut -d: -f2 | tr -d ' '")).stdout).toBe('lo\n');
    expect((await runSh(['--network', 'host'], fetchFrom('127.0.0.1', loopback!.port))).stdout).toBe('host-loopback-service\n');
  });
});

describe('containers: hostname, HOSTNAME and HOME', () => {
  it('the short ID as hostname and HOSTNAME, HOME from passwd; --hostname; exec sees the same', { timeout: 60_000 }, async (t) => {
    if (!ready) return t.skip();
    const show = 'echo "$(hostname) $HOSTNAME $HOME"; grep -c "$(hostname)" /etc/hosts';
    const created = await cli('run', '-d', '--name', 'named', IMAGE, 'sleep', '4996');
    const id = created.stdout.trim();
    try {
      const exec = await cli('exec', 'named', 'sh', '-c', show);
      expect(exec.stdout).toBe(`${id.slice(0, 12)} ${id.slice(0, 12)} /root\n1\n`);
      const asApp = await cli('exec', 'named', 'sh', '-c', 'echo $HOME');
      expect(asApp.stdout).toBe('/root\n');
    } finally {
      await cli('rm', '-f', 'named');
    }
    expect((await runSh(['--hostname', 'web1'], show)).stdout).toBe('web1 web1 /root\n1\n');
    expect((await runSh(['-u', 'app'], 'echo $HOME')).stdout).toBe('/home/app\n');
    expect((await runSh(['-u', 'nobody'], 'echo $HOME')).stdout).toBe('/nonexistent\n');
    expect((await runSh(['-u', '1234'], 'echo $HOME')).stdout).toBe('/\n');
    expect((await runSh(['-e', 'HOME=/srv', '-e', 'HOSTNAME=mine'], 'echo $HOME $HOSTNAME')).stdout).toBe('/srv mine\n');
    const bad = await runSh(['--hostname', 'bad_name!'], 'true');
    expect(bad.status).toBe(125);
    expect(bad.stderr).toContain('invalid hostname');
  });
});

const ROOTLESS_CHILD = `
import { build } from ${JSON.stringify(join(repo, 'src/builder/build.ts'))};
import { sandboxExecutor } from ${JSON.stringify(join(repo, 'src/sandbox/index.ts'))};
import { ContainerRuntime } from ${JSON.stringify(join(repo, 'src/containers/index.ts'))};
import { ImageStore } from ${JSON.stringify(join(repo, 'src/image/store/store.ts'))};
const [context, storeDir] = process.argv.slice(2);
const store = new ImageStore(storeDir);
await build({ context, store, executor: sandboxExecutor(), tags: 'bb:rootless' });
const runtime = new ContainerRuntime(store);
const report = { uid: process.getuid() };
for (const user of ['', 'app']) {
  const name = 'c' + (user || 'root');
  await runtime.run('bb:rootless', { detach: true, name, network: 'none', ...(user ? { user } : {}), cmd: ['sleep', '4995'] });
  let out = '';
  const exec = await runtime.exec(name, ['sh', '-c', 'id -u; cat /proc/1/cmdline | tr "\\\\0" " "; echo; echo $HOME'], { onOutput: (_s, c) => (out += Buffer.from(c).toString()) });
  report[name] = { exitCode: exec.exitCode, out };
  await runtime.rm(name, { force: true });
}
console.log(JSON.stringify(report));
`;

describe('containers: rootless exec', () => {
  it('exec into a running container as an unprivileged user (root and a USER in the image)', { timeout: 240_000 }, async (t) => {
    if (!ready) return t.skip();
    const asUser = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'] : [];
    if (asUser.length > 0 && !(await which('setpriv'))) {
      if (process.env.CI) throw new Error('setpriv missing (util-linux)');
      return t.skip();
    }
    const dir = await tempDir('layerkit-rootless-exec-');
    await chmod(dir, 0o777);
    const context = join(dir, 'context');
    await mkdir(join(context, 'etc'), { recursive: true });
    await copyFile('/bin/busybox', join(context, 'busybox'));
    await writeFile(join(context, 'etc/passwd'), PASSWD);
    await writeFile(join(context, 'etc/group'), 'root:x:0:\napp:x:1000:\n');
    await writeFile(join(context, 'Dockerfile'), 'FROM scratch\nCOPY busybox /bin/busybox\nCOPY etc/ /etc/\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n');
    // nobody may not be able to read the checkout: it runs a bundle in the world-readable dir.
    const script = await bundleForOthers(dir, 'child', ROOTLESS_CHILD);
    await mkdir(join(dir, 'store'));
    await chmod(join(dir, 'store'), 0o777);
    const argv = [...asUser, process.execPath, script, context, join(dir, 'store')];
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(argv[0]!, argv.slice(1), { cwd: dir, env: { ...process.env, HOME: dir, TMPDIR: dir }, maxBuffer: 1 << 24, timeout: 200_000 }, (err, out, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(out)));
    });
    const report = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, { exitCode: number; out: string }> & { uid: number };
    expect(report.uid).not.toBe(0);
    expect(report['croot']).toEqual({ exitCode: 0, out: '0\nsleep 4995 \n/root\n' });
    expect(report['capp']).toEqual({ exitCode: 0, out: '1000\nsleep 4995 \n/home/app\n' });
    expect(await processesWith('sleep 4995')).toEqual([]);
    await rm(dir, { recursive: true, force: true }).catch(() => {});
    void existsSync;
  });
});
