/**
 * More `docker` habits through the real program: `logs -t/--since/--until`
 * (with `-f` and `--tail`), `ps`'s PORTS, and `run -v`/`--mount` of single
 * host files.
 */
import { createServer } from 'node:net';
import { chmod, copyFile, mkdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxExecutor } from '../../src/sandbox/index.js';
import { ImageStore } from '../../src/image/store/store.js';
import { portsText } from '../../src/cli/status-text.js';
import { buildText, sandboxReady, tempDir } from '../builder/helpers.js';
import { userNetworkReady } from '../builder/sandbox-isolation-helpers.js';
import { layerkit } from './habits-helpers.js';

const IMAGE = 'habits-more/box';
let work: string;
let store: string;
let ready = false;

function lk(verb: string, args: string[], options: Parameters<typeof layerkit>[1] = {}) {
  return layerkit([verb, '--store', store, ...args], options);
}

const STAMP = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z) (.*)$/;

/** `[time, text]` of each `-t` line. */
function stamped(text: string): Array<[string, string]> {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const m = STAMP.exec(line);
      expect(m, line).not.toBeNull();
      return [m![1]!, m![2]!];
    });
}

/** Nanoseconds of an RFC 3339 time with nine digits. */
function nanos(time: string): bigint {
  return BigInt(Date.parse(time.slice(0, 19) + 'Z')) * 1_000_000n + BigInt(time.slice(20, 29));
}

beforeAll(async () => {
  work = await tempDir('layerkit-habits-more-');
  store = join(work, 'store');
  const root = join(work, 'rootfs');
  await mkdir(join(root, 'bin'), { recursive: true });
  await mkdir(join(root, 'etc'));
  await mkdir(join(root, 'tmp'));
  await writeFile(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(join(root, 'etc', 'group'), 'root:x:0:\n');
  if (await sandboxReady('logs, ports and file mounts CLI tests', { overlay: true })) {
    await copyFile('/bin/busybox', join(root, 'bin', 'busybox'));
    await chmod(join(root, 'tmp'), 0o1777);
    await buildText(
      'FROM scratch\nCOPY . /\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nEXPOSE 18444 18445/udp\nCMD ["sh"]\n',
      {},
      { executor: sandboxExecutor(), store: new ImageStore(store), context: root, tags: IMAGE },
    );
    ready = true;
  }
}, 180_000);

afterAll(async () => {
  if (ready) {
    const ids = (await lk('ps', ['-a', '-q', '--no-trunc'])).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await lk('rm', ['-f', ...ids]);
  }
  if (work) await rm(work, { recursive: true, force: true });
}, 60_000);

describe('logs with times', () => {
  let before = 0n;
  let after = 0n;

  beforeAll(async () => {
    if (!ready) return;
    before = BigInt(Date.now()) * 1_000_000n;
    const started = await lk('run', ['-d', '--name', 'timed', IMAGE, 'sh', '-c', 'echo one; sleep 1.2; echo two >&2; sleep 1.2; echo three; printf partial']);
    expect(started.status, started.stderr).toBe(0);
    expect((await lk('wait', ['timed'])).stdout).toBe('0\n');
    after = BigInt(Date.now()) * 1_000_000n;
  }, 60_000);

  it('-t starts each line with its RFC 3339 time (UTC, nanoseconds) and a space', async (t) => {
    if (!ready) return t.skip();
    const out = await lk('logs', ['-t', 'timed']);
    expect(out.status, out.stderr).toBe(0);
    const lines = stamped(out.stdout);
    expect(lines.map(([, text]) => text)).toEqual(['one', 'three', 'partial']);
    const [err] = stamped(out.stderr);
    expect(err![1]).toBe('two');
    const [one, three] = lines.map(([time]) => nanos(time));
    const two = nanos(err![0]);
    expect(before < one! && one! < two && two < three! && three! < after).toBe(true);
    // The sleeps are between them.
    expect(two - one! > 1_000_000_000n && three! - two > 1_000_000_000n).toBe(true);
    // Without -t, the bytes as written.
    expect(await lk('logs', ['timed'])).toMatchObject({ stdout: 'one\nthree\npartial', stderr: 'two\n' });
  });

  it('--since and --until take RFC 3339 (with or without nanoseconds), Unix times and durations', async (t) => {
    if (!ready) return t.skip();
    const lines = stamped((await lk('logs', ['-t', 'timed'])).stdout);
    const twoAt = stamped((await lk('logs', ['-t', 'timed'])).stderr)[0]![0];
    const sinceTwo = await lk('logs', ['--since', twoAt, 'timed']);
    expect(sinceTwo).toMatchObject({ status: 0, stdout: 'three\npartial', stderr: 'two\n' });
    const untilTwo = await lk('logs', ['--until', twoAt, 'timed']);
    expect(untilTwo).toMatchObject({ status: 0, stdout: 'one\n', stderr: 'two\n' });
    // Unix seconds.nanoseconds, and whole seconds (the line at that second's start is after it).
    const unix = `${nanos(twoAt) / 1_000_000_000n}.${String(nanos(twoAt) % 1_000_000_000n).padStart(9, '0')}`;
    expect((await lk('logs', ['--since', unix, 'timed'])).stdout).toBe('three\npartial');
    expect((await lk('logs', ['--until', String(nanos(lines[0]![0]) / 1_000_000_000n - 1n), 'timed'])).stdout).toBe('');
    // Seconds precision without nanoseconds: everything from a second before "one".
    const secondBefore = new Date(Number(nanos(lines[0]![0]) / 1_000_000n) - 1000).toISOString().slice(0, 19) + 'Z';
    expect((await lk('logs', ['--since', secondBefore, 'timed'])).stdout).toBe('one\nthree\npartial');
    // Durations are before now: all of it is newer than an hour ago, none of it older.
    expect((await lk('logs', ['--since', '1h', 'timed'])).stdout).toBe('one\nthree\npartial');
    expect((await lk('logs', ['--until', '1h30m', 'timed'])).stdout).toBe('');
    expect((await lk('logs', ['--since=10m', '-t', 'timed'])).stdout).toMatch(/Z one\n.*Z three\n.*Z partial$/);
    const bad = await lk('logs', ['--since', 'yesterday', 'timed']);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr.trim().split('\n')).toEqual([expect.stringContaining('invalid value for --since: "yesterday"')]);
  });

  it('--tail counts the last lines of both streams together, in the order written', async (t) => {
    if (!ready) return t.skip();
    expect(await lk('logs', ['--tail', '2', 'timed'])).toMatchObject({ stdout: 'three\npartial', stderr: '' });
    expect(await lk('logs', ['--tail', '3', 'timed'])).toMatchObject({ stdout: 'three\npartial', stderr: 'two\n' });
    const tailed = await lk('logs', ['-n', '1', '-t', 'timed']);
    expect(stamped(tailed.stdout).map(([, text]) => text)).toEqual(['partial']);
    // --tail, then --since among those lines (Docker's order).
    const twoAt = stamped((await lk('logs', ['-t', 'timed'])).stderr)[0]![0];
    expect(await lk('logs', ['--tail', '4', '--until', twoAt, 'timed'])).toMatchObject({ stdout: 'one\n', stderr: 'two\n' });
    expect(await lk('logs', ['--tail', '0', 'timed'])).toMatchObject({ stdout: '', stderr: '' });
  });

  it('-f with -t and --since prints new lines as they come, with their times, until the container stops', async (t) => {
    if (!ready) return t.skip();
    const started = await lk('run', ['-d', IMAGE, 'sh', '-c', 'echo first; sleep 1; echo second; sleep 0.5; echo third >&2']);
    const id = started.stdout.trim();
    const follower = await lk('logs', ['-f', '-t', '--since', '5m', id]);
    expect(follower.status, follower.stderr).toBe(0);
    const lines = stamped(follower.stdout);
    expect(lines.map(([, text]) => text)).toEqual(['first', 'second']);
    expect(nanos(lines[1]![0]) - nanos(lines[0]![0]) > 900_000_000n).toBe(true);
    expect(stamped(follower.stderr).map(([, text]) => text)).toEqual(['third']);
  }, 60_000);

  it('once wait says a detached container has stopped, its logs hold all of its output', async (t) => {
    if (!ready) return t.skip();
    const started = await lk('run', ['-d', IMAGE, 'sh', '-c', 'seq 1 200000; seq 1 50000 >&2']);
    const id = started.stdout.trim();
    expect((await lk('wait', [id])).stdout).toBe('0\n');
    const logs = await lk('logs', [id]);
    const out = logs.stdout.split('\n');
    expect(out).toHaveLength(200001);
    expect(out.at(-2)).toBe('200000');
    expect(logs.stderr.split('\n').at(-2)).toBe('50000');
    expect((await lk('logs', ['--tail', '1', id])).stderr).toBe('50000\n');
  }, 60_000);

  it('-f --until stops following at that time, a running container notwithstanding', async (t) => {
    if (!ready) return t.skip();
    const started = await lk('run', ['-d', '--name', 'ticker', IMAGE, 'sh', '-c', 'while true; do echo tick; sleep 0.2; done']);
    expect(started.status, started.stderr).toBe(0);
    // Two seconds from now, as a Unix time, to check the lines' times against.
    const until = BigInt(Date.now() + 2000) * 1_000_000n;
    const untilText = `${until / 1_000_000_000n}.${String(until % 1_000_000_000n).padStart(9, '0')}`;
    const follower = await lk('logs', ['-f', '-t', '--until', untilText, 'ticker'], { timeoutMs: 30_000 });
    expect(follower.status, follower.stderr).toBe(0);
    const lines = stamped(follower.stdout);
    expect(lines.length).toBeGreaterThan(2);
    expect(lines.every(([time, text]) => nanos(time) <= until && text === 'tick')).toBe(true);
    // A negative duration is after now, as in Go: everything so far.
    expect(stamped((await lk('logs', ['-t', '--until', '-2s', 'ticker'])).stdout).slice(0, lines.length)).toEqual(lines);
    // It stopped at the time, not with the container: that runs on and logs later lines.
    const last = nanos(lines.at(-1)![0]);
    await new Promise((r) => setTimeout(r, 500));
    expect((await lk('ps', ['--format', '{{.Names}} {{.State}}'])).stdout).toContain('ticker running\n');
    const later = stamped((await lk('logs', ['-t', 'ticker'])).stdout);
    expect(nanos(later.at(-1)![0]) > last).toBe(true);
    // Every line stamped up to --until, the last ones too: what the whole log holds up to that time.
    expect(later.filter(([time]) => nanos(time) <= until)).toEqual(lines);
    await lk('rm', ['-f', 'ticker']);
  }, 60_000);

  it('an attached run keeps times too; logs kept without times read as before, at the creation time', async (t) => {
    if (!ready) return t.skip();
    const attached = await lk('run', ['--name', 'attached', IMAGE, 'sh', '-c', 'echo out; echo err >&2']);
    expect(attached.status, attached.stderr).toBe(0);
    expect(stamped((await lk('logs', ['-t', 'attached'])).stdout).map(([, text]) => text)).toEqual(['out']);
    // Logs of an older layerkit: no times files.
    const row = (await lk('ps', ['-a', '--no-trunc', '--format', '{{.Names}} {{.ID}} {{.CreatedAt}}'])).stdout.split('\n').find((l) => l.startsWith('attached '))!;
    const [, id, ...createdAt] = row.split(' ');
    const dir = join(store, 'containers', id!);
    await stat(join(dir, 'stdout.log.times'));
    await unlink(join(dir, 'stdout.log.times'));
    await unlink(join(dir, 'stderr.log.times'));
    await writeFile(join(dir, 'stdout.log'), 'a\nb\nc\n');
    expect(await lk('logs', ['--tail', '1', 'attached'])).toMatchObject({ stdout: 'c\n', stderr: 'err\n' });
    const legacy = stamped((await lk('logs', ['-t', 'attached'])).stdout);
    expect(legacy.map(([, text]) => text)).toEqual(['a', 'b', 'c']);
    // Each line has the container's creation time.
    expect(new Set(legacy.map(([time]) => time)).size).toBe(1);
    expect(legacy[0]![0].slice(0, 19).replace('T', ' ')).toBe(createdAt.join(' ').slice(0, 19));
  }, 60_000);
});

describe('ps PORTS', () => {
  it("folds and orders ports as Docker's formatter", () => {
    const running = { status: 'running' as const };
    expect(portsText({ ...running, ports: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] })).toBe('0.0.0.0:8080->80/tcp');
    expect(
      portsText({
        ...running,
        ports: [
          { hostPort: 8001, containerPort: 8001, protocol: 'tcp' },
          { hostPort: 8000, containerPort: 8000, protocol: 'tcp' },
          { hostIp: '::1', hostPort: 9000, containerPort: 90, protocol: 'udp' },
          { hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' },
        ],
        exposedPorts: ['443/tcp', '7000/udp', '7001/udp', '8000/tcp', '53'],
      }),
    ).toBe('53/tcp, 443/tcp, 7000-7001/udp, 0.0.0.0:8000-8001->8000-8001/tcp, 127.0.0.1:8080->80/tcp, [::1]:9000->90/udp');
    expect(portsText({ status: 'exited', ports: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] })).toBe('');
    expect(portsText({ ...running })).toBe('');
    expect(portsText({ ...running, network: 'host', exposedPorts: ['80/tcp'] })).toBe('');
    expect(portsText({ ...running, network: 'bridge', exposedPorts: ['80/tcp'] })).toBe('80/tcp');
  });

  it('law: the folded text lists each published and each only-exposed port exactly once', () => {
    const port = fc.integer({ min: 1, max: 40 });
    const proto = fc.constantFrom('tcp', 'udp');
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.record({ hostIp: fc.constantFrom(undefined, '127.0.0.1', '::1'), hostPort: port, containerPort: port, protocol: proto }), {
          selector: (p) => `${p.hostIp ?? '0.0.0.0'} ${p.hostPort} ${p.protocol}`,
          maxLength: 8,
        }),
        fc.uniqueArray(fc.tuple(port, proto).map(([n, t]) => `${n}/${t}`), { maxLength: 8 }),
        (ports, exposedPorts) => {
          const want = new Set(ports.map((p) => `${p.hostIp ?? '0.0.0.0'} ${p.hostPort} ${p.containerPort} ${p.protocol}`));
          for (const e of exposedPorts) {
            const [n, t] = e.split('/');
            if (!ports.some((p) => p.containerPort === Number(n) && p.protocol === t)) want.add(` 0 ${n} ${t}`);
          }
          const text = portsText({ status: 'running', ports: ports.map((p) => (p.hostIp === undefined ? { hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol } : p)), exposedPorts });
          const got: string[] = [];
          const range = (r: string) => {
            const [a, b = a] = r.split('-').map(Number);
            return Array.from({ length: b! - a! + 1 }, (_, i) => a! + i);
          };
          for (const item of text === '' ? [] : text.split(', ')) {
            const m = /^(?:(.*):([\d-]+)->([\d-]+)|([\d-]+))\/(tcp|udp)$/.exec(item);
            expect(m, item).not.toBeNull();
            const [, ip, pub, priv, bare, type] = m!;
            if (bare !== undefined) for (const n of range(bare)) got.push(` 0 ${n} ${type}`);
            else {
              const host = ip!.replace(/^\[(.*)\]$/, '$1');
              const [pubs, privs] = [range(pub!), range(priv!)];
              expect(pubs.length).toBe(privs.length);
              pubs.forEach((n, i) => got.push(`${host} ${n} ${privs[i]} ${type}`));
            }
          }
          expect(got.length).toBe(want.size);
          expect(new Set(got)).toEqual(want);
        },
      ),
    );
  });

  it('shows published and exposed ports of a running container, in the table and in --format', async (t) => {
    if (!ready || !(await userNetworkReady('ps PORTS tests'))) return t.skip();
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const started = await lk('run', ['-d', '--name', 'ported', '-p', `${port}:80`, '-p', `127.0.0.1:${port + 1}:18444`, IMAGE, 'sleep', '600']);
    expect(started.status, started.stderr).toBe(0);
    try {
      const expected = `18445/udp, 0.0.0.0:${port}->80/tcp, 127.0.0.1:${port + 1}->18444/tcp`;
      expect((await lk('ps', ['--format', '{{.Names}}: {{.Ports}}'])).stdout).toContain(`ported: ${expected}\n`);
      const table = (await lk('ps', [])).stdout.split('\n');
      expect(table[0]).toMatch(/^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
      const row = table.find((l) => l.endsWith(' ported'))!;
      expect(row.slice(table[0]!.indexOf('PORTS')).startsWith(`${expected}   `)).toBe(true);
      expect((await lk('ps', ['--format', 'table {{.Ports}}'])).stdout.split('\n')[0]).toBe('PORTS');
      await lk('stop', ['-t', '0', 'ported']);
      expect((await lk('ps', ['-a', '--format', '{{.Names}}:{{.Ports}}'])).stdout).toContain('ported:\n');
    } finally {
      await lk('rm', ['-f', 'ported']);
    }
  }, 60_000);
});

describe('run -v and --mount of single files', () => {
  it('binds a host file read-write (writes reach the host) and read-only', async (t) => {
    if (!ready) return t.skip();
    const file = join(work, 'app.conf');
    await writeFile(file, 'setting=1\n');
    const rw = await lk('run', ['--rm', '-v', `${file}:/etc/app.conf`, IMAGE, 'sh', '-c', 'cat /etc/app.conf; echo setting=2 >> /etc/app.conf; test -f /etc/app.conf && echo is-file']);
    expect(rw.status, rw.stderr).toBe(0);
    expect(rw.stdout).toBe('setting=1\nis-file\n');
    expect(await readFile(file, 'utf8')).toBe('setting=1\nsetting=2\n');
    const ro = await lk('run', ['--rm', '-v', `${file}:/etc/app.conf:ro`, IMAGE, 'sh', '-c', 'cat /etc/app.conf; echo no >> /etc/app.conf']);
    expect(ro.stdout).toBe('setting=1\nsetting=2\n');
    expect(ro.status).not.toBe(0);
    expect(ro.stderr).toMatch(/Read-only file system/);
    const mounted = await lk('run', ['--rm', '--mount', `type=bind,src=${file},dst=/srv/conf,readonly`, IMAGE, 'sh', '-c', 'cat /srv/conf; echo no > /srv/conf']);
    expect(mounted.stdout).toBe('setting=1\nsetting=2\n');
    expect(mounted.status).not.toBe(0);
    expect(await readFile(file, 'utf8')).toBe('setting=1\nsetting=2\n');
    // A path from the current directory, as Docker's CLI takes it.
    const relative = await lk('run', ['--rm', '-v', './app.conf:/app.conf:ro', '--mount', 'type=bind,src=.,dst=/here,ro', IMAGE, 'sh', '-c', 'cat /app.conf; ls /here | grep -c app.conf'], { cwd: work });
    expect(relative.stdout, relative.stderr).toBe('setting=1\nsetting=2\n1\n');
  }, 120_000);

  it('the container keeps its file bind across a restart (the file as the host has it then)', async (t) => {
    if (!ready) return t.skip();
    const file = join(work, 'kept.txt');
    await writeFile(file, 'first\n');
    const created = await lk('run', ['--name', 'filebind', '-v', `${file}:/kept.txt`, IMAGE, 'cat', '/kept.txt']);
    expect(created.stdout).toBe('first\n');
    await writeFile(file, 'second\n');
    const again = await lk('start', ['-a', 'filebind']);
    expect(again.stdout).toBe('second\n');
    await lk('rm', ['filebind']);
  }, 60_000);

  it('-v makes a missing host path a directory, as Docker; --mount type=bind refuses it and makes nothing', async (t) => {
    if (!ready) return t.skip();
    const missing = join(work, 'made', 'by', 'v');
    const made = await lk('run', ['--rm', '-v', `${missing}:/data`, IMAGE, 'sh', '-c', 'test -d /data && echo dir > /data/x']);
    expect(made.status, made.stderr).toBe(0);
    expect((await stat(missing)).isDirectory()).toBe(true);
    expect(await readFile(join(missing, 'x'), 'utf8')).toBe('dir\n');
    const refused = join(work, 'not', 'made');
    const mount = await lk('run', ['--rm', '--mount', `type=bind,src=${refused},dst=/data`, IMAGE, 'true']);
    expect(mount.status).toBe(125);
    expect(mount.stderr.trim().split('\n')).toEqual([expect.stringContaining(`bind source path does not exist: ${refused}`)]);
    await expect(stat(join(work, 'not'))).rejects.toThrow();
    // One bad mount among good ones: nothing is made for the refused container.
    const mixed = await lk('run', ['--rm', '-v', `${join(work, 'mixed')}:/a`, '--mount', `type=bind,src=${refused},dst=/b`, IMAGE, 'true']);
    expect(mixed.status).toBe(125);
    await expect(stat(join(work, 'mixed'))).rejects.toThrow();
    // volume create takes names only: a path is not made.
    const path = await lk('volume', ['create', join(work, 'not-a-volume')]);
    expect(path.status).toBe(2);
    expect(path.stderr).toContain('invalid volume name');
    await expect(stat(join(work, 'not-a-volume'))).rejects.toThrow();
  }, 60_000);
});
