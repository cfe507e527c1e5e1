/**
 * The RUN sandbox's isolation from the host, on real processes: device
 * nodes root makes cannot be opened (every writable mount is nodev, /dev
 * is a fresh tmpfs with Docker's few devices), uids beyond runc's range are
 * refused instead of wrapping to root, HOME comes from the passwd entry,
 * the step has a network of its own (out through slirp4netns, the host's
 * loopback services out of reach; the host's network only with the
 * network.host entitlement), and a `layerkit build` killed with SIGKILL
 * takes every process of its step with it.
 */
import { existsSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BuildError } from '../../src/builder/errors.js';
import type { BuildOptions } from '../../src/builder/options.js';
import { probeSandbox, sandboxExecutor } from '../../src/sandbox/index.js';
import { sandboxIds } from '../../src/sandbox/id-map.js';
import { IdRangeError, MAX_ID, numericId } from '../../src/sandbox/users.js';
import { UserDb } from '../../src/builder/users.js';
import { ImageStore } from '../../src/image/store/store.js';
import { UnionFS } from '../../src/unionfs/union.js';
import { buildText, processesWith, sandboxReady, tempDir, writeContext } from './helpers.js';
import { eventually, hostAddress, httpServer, layerkit, userNetworkReady } from './sandbox-isolation-helpers.js';

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nnohome:x:2000:2000:::/bin/sh\n';

let ready = false;
let store: ImageStore;
let storeDir = '';
let context = '';
beforeAll(async () => {
  if (!(await sandboxReady('sandbox isolation tests'))) return;
  storeDir = await tempDir('layerkit-isolation-');
  store = new ImageStore(storeDir);
  context = await writeContext({ 'etc/passwd': PASSWD, 'etc/group': 'root:x:0:\napp:x:1000:\n', 'a.txt': 'a' });
  await copyFile('/bin/busybox', join(context, 'busybox'));
  await buildText('FROM scratch\nCOPY busybox /bin/busybox\nCOPY etc/ /etc/\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n', {}, {
    executor: sandboxExecutor(),
    store,
    context,
    tags: 'busybox:isolation',
  });
  ready = true;
}, 180_000);

/** Builds `FROM busybox:isolation` + `body` (no cache) and returns what the RUNs printed. */
async function runOutput(body: string, options: BuildOptions = {}): Promise<string> {
  let out = '';
  await buildText(`FROM busybox:isolation\n${body}`, {}, {
    executor: sandboxExecutor(),
    store,
    context,
    noCache: true,
    onEvent: (e) => {
      if (e.type === 'output') out += Buffer.from(e.chunk).toString();
    },
    ...options,
  });
  return out;
}

/** A shell snippet that makes a device node and tries to open it read-write, printing the outcome. */
function tryDevice(path: string, type: 'b' | 'c', major: number, minor: number): string {
  // In a user namespace (rootless) the kernel refuses the mknod itself; `<>` would then make a plain file.
  return `if mknod ${path} ${type} ${major} ${minor} 2>/dev/null; then if (exec 3<>${path}) 2>/dev/null; then echo "OPENED ${path}"; else (exec 3<>${path}) 2>&1 | sed "s|.*: ||; s|^|${path}: |"; fi; else echo "${path}: mknod refused"; fi`;
}

describe('RUN: host devices', () => {
  it('a node root makes (loop 7:0, tun 10:200, fuse 10:229) cannot be opened anywhere the step can write', { timeout: 120_000 }, async (t) => {
    if (!ready) return t.skip();
    const places = [
      tryDevice('/loop0', 'b', 7, 0),
      tryDevice('/dev/tun', 'c', 10, 200),
      tryDevice('/dev/shm/fuse', 'c', 10, 229),
      tryDevice('/tmpfs/loop0', 'b', 7, 0),
      tryDevice('/cache/fuse', 'c', 10, 229),
    ];
    const out = await runOutput(`RUN --mount=type=tmpfs,target=/tmpfs --mount=type=cache,target=/cache ls /dev | tr '\\n' ' '; echo; ${places.join('; ')}; echo ok > /dev/null && echo null-works\n`);
    expect(out).not.toContain('OPENED');
    const lines = out.split('\n');
    const rootless = process.getuid?.() !== 0;
    for (const path of ['/loop0', '/dev/tun', '/dev/shm/fuse', '/tmpfs/loop0', '/cache/fuse']) {
      expect(lines).toContain(rootless ? `${path}: mknod refused` : `${path}: Permission denied`);
    }
    expect(lines).toContain('null-works');
    // Docker's default nodes and links, nothing of the host's other devices.
    expect(lines[0]!.trim().split(' ')).toEqual(['core', 'fd', 'full', 'mqueue', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero']);
  });
});

describe('RUN: the kernel\'s interfaces and the host\'s tools', () => {
  it('Docker\'s masks hold and cannot be undone: /proc/timer_list empty, /proc/sys read-only, no remount or umount', { timeout: 60_000 }, async (t) => {
    if (!ready) return t.skip();
    if (!existsSync('/proc/timer_list')) {
      if (process.env.CI) throw new Error('/proc/timer_list missing on this kernel');
      return t.skip();
    }
    const out = await runOutput(
      'RUN echo "timer_list $(wc -c < /proc/timer_list)"; (echo 1 > /proc/sys/kernel/panic) 2>&1 | sed "s|.*: ||"; mount -o remount,rw /proc/sys 2>&1 | sed "s|.*: ||"; umount /proc/timer_list 2>&1 | sed "s|.*: ||"\n',
    );
    expect(out.split('\n')).toEqual(['timer_list 0', 'Read-only file system', 'permission denied (are you root?)', 'Operation not permitted', '']);
  });

  it('an LD_PRELOAD in the image\'s environment cannot make the host\'s tools load a file of the image', { timeout: 60_000 }, async (t) => {
    if (!ready) return t.skip();
    const out = await runOutput('RUN echo garbage > /evil.so\nENV LD_PRELOAD=/evil.so\nRUN echo ran\n');
    // The host's tools run from the helper root, where no /evil.so exists: glibc says it cannot open it (not that it is no ELF file).
    expect(out).toContain('ran\n');
    expect(out).toContain("object '/evil.so' from LD_PRELOAD cannot be preloaded (cannot open shared object file)");
    expect(out).not.toContain('invalid ELF header');
  });
});

describe('RUN: user ids', () => {
  for (const [instruction, value] of [
    ['USER 4294967296', '4294967296'],
    ['USER 99999999999', '99999999999'],
    ['USER 0:4294967296', '4294967296'],
    ['USER 2147483648', '2147483648'],
    ['COPY --chown=4294967296 a.txt /a.txt', '4294967296'],
    ['COPY --chown=0:99999999999 a.txt /a.txt', '99999999999'],
  ] as const) {
    it(`${instruction} is refused with a positioned INVALID_USER_ID, nothing runs as another uid`, { timeout: 60_000 }, async (t) => {
      if (!ready) return t.skip();
      const err = await runOutput(`${instruction}\nRUN id -u\n`).then(
        (out) => out,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(BuildError);
      expect((err as BuildError).code).toBe('INVALID_USER_ID');
      // USER is resolved when a RUN needs it (as BuildKit does); --chown at its COPY.
      expect((err as BuildError).data.line).toBe(instruction.startsWith('USER') ? 3 : 2);
      expect((err as BuildError).message).toContain(`${value} is out of range`);
    });
  }

  it('the largest id runc allows still runs as itself (rootless with subordinate ids: refused, beyond the range)', { timeout: 60_000 }, async (t) => {
    if (!ready) return t.skip();
    const ids = await sandboxIds(await probeSandbox());
    if (ids?.map) {
      const err = await runOutput('USER 2147483647:2147483647\nRUN id -u; id -g\n').catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'USER_UNSUPPORTED' });
      return;
    }
    expect(await runOutput('USER 2147483647:2147483647\nRUN id -u; id -g\n')).toBe('2147483647\n2147483647\n');
  });

  it('numericId: every id of 0…2147483647 is itself, every larger one an IdRangeError (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_ID }), (n) => numericId(String(n), 'uid') === n),
    );
    fc.assert(
      fc.property(fc.bigInt({ min: BigInt(MAX_ID) + 1n, max: 10n ** 30n }), (n) => {
        expect(() => numericId(n.toString(), 'gid')).toThrow(IdRangeError);
      }),
    );
  });

  it('UserDb refuses out-of-range ids for USER and --chown alike', async () => {
    const users = new UserDb(async () => new UnionFS());
    await expect(users.runUser('4294967296')).rejects.toMatchObject({ code: 'INVALID_USER_ID' });
    await expect(users.runUser('1:4294967297')).rejects.toMatchObject({ code: 'INVALID_USER_ID' });
    await expect(users.chownOwner('4294967296')).rejects.toMatchObject({ code: 'INVALID_USER_ID' });
    await expect(users.chownOwner('0:4294967296')).rejects.toMatchObject({ code: 'INVALID_USER_ID' });
    expect(await users.chownOwner('2147483647')).toEqual({ uid: 2147483647, gid: 2147483647 });
  });
});

describe('RUN: HOME and hostname', () => {
  it('HOME from the passwd entry when the environment has none; the hostname is BuildKit\'s', { timeout: 120_000 }, async (t) => {
    if (!ready) return t.skip();
    const out = await runOutput(
      [
        'RUN echo "root $HOME $(hostname)"',
        'USER app',
        'RUN echo "app $HOME"',
        'USER nobody',
        'RUN echo "nobody $HOME"',
        'USER 1234',
        'RUN echo "noentry $HOME"',
        'USER nohome',
        'RUN echo "nohome $HOME"',
        'USER root',
        'ENV HOME=/custom',
        'RUN echo "env $HOME"',
        '',
      ].join('\n'),
    );
    expect(out).toBe('root /root buildkitsandbox\napp /home/app\nnobody /nonexistent\nnoentry /\nnohome /\nenv /custom\n');
  });
});

describe('RUN: network', () => {
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

  it('a network of its own: the host\'s loopback services are out of reach, the slirp4netns gateway and DNS are there, the outside is reachable', { timeout: 120_000 }, async (t) => {
    if (!ready || !(await userNetworkReady('RUN network tests'))) return t.skip();
    const port = loopback!.port;
    const fetchFrom = (host: string, p: number) => `r=$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${host} ${p} 2>/dev/null | tail -n 1); echo "\${r:-unreachable}"`;
    const out = await runOutput(
      `RUN ${fetchFrom('127.0.0.1', port)}; ${fetchFrom('10.0.2.2', port)}; ip route | grep default; grep nameserver /etc/resolv.conf; ip -o link | cut -d: -f2 | tr -d ' ' | sort | tr '\\n' ' '; echo${
        outside ? `; ${fetchFrom(address!, outside.port)}` : ''
      }\n`,
    );
    const lines = out.split('\n').filter(Boolean);
    expect(lines[0]).toBe('unreachable');
    expect(lines[1]).toBe('unreachable');
    expect(lines[2]).toMatch(/^default via 10\.0\.2\.2 dev tap0/);
    expect(lines[3]).toBe('nameserver 10.0.2.3');
    expect(lines[4]!.trim()).toBe('lo tap0');
    if (outside) expect(lines[5]).toBe('host-outside-service');
    else console.warn('no non-loopback host address: the outbound path was not exercised');
  });

  it('--network=none has only lo; --network=host needs the network.host entitlement, and then sees the host', { timeout: 120_000 }, async (t) => {
    if (!ready) return t.skip();
    expect(await runOutput("RUN --network=none ip -o link | cut -d: -f2 | tr -d ' '\n")).toBe('lo\n');
    const refused = await runOutput(`RUN --network=host wget -q -O - http://127.0.0.1:${loopback!.port}/\n`).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(BuildError);
    expect((refused as BuildError).code).toBe('ENTITLEMENT_REQUIRED');
    expect((refused as BuildError).data.line).toBe(2);
    const allowed = await runOutput(`RUN --network=host wget -q -O - http://127.0.0.1:${loopback!.port}/\n`, { allow: ['network.host'] });
    expect(allowed).toBe('host-loopback-service');
  });
});

describe('RUN: the step dies with the build', () => {
  for (const user of ['root', 'nobody'] as const) {
    it(`kill -9 of \`layerkit build\` during a RUN as ${user} leaves no process of the step`, { timeout: 120_000 }, async (t) => {
      if (!ready) return t.skip();
      const marker = `48${user === 'root' ? 11 : 12}${process.pid % 1000}`;
      const ctx = await writeContext({ Dockerfile: `FROM busybox:isolation\nUSER ${user}\nRUN sleep ${marker} & sleep ${marker}1\n` });
      const cli = layerkit(['build', '--store', storeDir, '--no-cache', '--progress', 'plain', ctx]);
      try {
        expect(await eventually(async () => (await processesWith(`sleep ${marker}1`)).length > 0, 60_000)).toBe(true);
        cli.child.kill('SIGKILL');
        await cli.done;
        // The step's command and its background child, the sandbox's own processes: all gone.
        expect(await eventually(async () => (await processesWith(`sleep ${marker}`)).length === 0, 5000)).toBe(true);
      } finally {
        cli.child.kill('SIGKILL');
        for (const pid of await processesWith(`sleep ${marker}`)) process.kill(pid, 'SIGKILL');
      }
    });
  }
});
