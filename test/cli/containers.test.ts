/**
 * The container verbs of the CLI on real processes: a busybox image built
 * in the test from Debian's busybox-static, driven through `main()` in this
 * process and through the real program (`node --import tsx
 * src/cli/main.ts`). Checks Docker's output formats and exit codes, and that
 * nothing stays mounted, running or in a cgroup.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxExecutor } from '../../src/sandbox/index.js';
import type { CliIo } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import { ImageStore } from '../../src/image/store/store.js';
import { buildText, mountTable, processesWith, sandboxReady, tempDir, writeContext } from '../builder/helpers.js';

const repo = join(import.meta.dirname, '../..');
const IMAGE = 'busybox:cli';
let ready = false;
let store: string;

beforeAll(async () => {
  if (!(await sandboxReady('container CLI tests', { overlay: true }))) return;
  store = await tempDir('layerkit-cli-containers-');
  const context = await writeContext({ 'etc/passwd': 'root:x:0:0::/root:/bin/sh\n' });
  await copyFile('/bin/busybox', join(context, 'busybox'));
  await buildText(
    'FROM scratch\nCOPY busybox /bin/busybox\nCOPY etc/ /etc/\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nRUN mkdir /srv && echo old > /srv/old.txt\nWORKDIR /srv\nCMD ["sh"]\n',
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

/** `layerkit ARGS --store STORE` in this process (options after the verb, before its positional arguments). */
async function cli(verb: string, ...args: string[]): Promise<Result> {
  return cliWith({}, verb, ...args);
}

async function cliWith(extra: Partial<CliIo>, verb: string, ...args: string[]): Promise<Result> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    readText: (p) => readFile(p, 'utf8'),
    ...extra,
  };
  const status = await main([verb, '--store', store, ...args], io);
  return { status, stdout, stderr };
}

/** The real program, as a user runs it. */
function binary(args: string[], input?: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', join(repo, 'src/cli/main.ts'), ...args], { cwd: repo, timeout: 120_000 }, (err, stdout, stderr) => {
      const status = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ status, stdout: String(stdout), stderr: String(stderr) });
    });
    child.stdin!.end(input ?? '');
  });
}

/** The columns of a `docker ps` table: each header's offset must be where its cell starts in every row. */
function columns(table: string): Array<Record<string, string>> {
  const [header, ...rows] = table.trimEnd().split('\n');
  const names = ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES'];
  const starts = names.map((n) => header!.indexOf(n));
  expect(starts.every((s, i) => s >= 0 && (i === 0 || s > starts[i - 1]!))).toBe(true);
  return rows.map((row) => {
    const chars = [...row];
    const cells: Record<string, string> = {};
    names.forEach((n, i) => {
      const cell = chars.slice(starts[i], i + 1 < names.length ? starts[i + 1] : undefined).join('');
      // A cell is padded with at least one space before the next column starts.
      if (i + 1 < names.length) expect(cell.endsWith(' ')).toBe(true);
      cells[n] = cell.trimEnd();
    });
    return cells;
  });
}

const SECONDS = '(Less than a second|1 second|\\d+ seconds)';

describe('layerkit container verbs', () => {
  it('run attached: output streams and the exit code is the command\'s; layerkit failures exit 125', { timeout: 120_000 }, async (t) => {
    if (!ready) return t.skip();
    const attached = await cli('run', '--rm', '-e', 'WHO=world', IMAGE, 'sh', '-c', 'echo "hello $WHO from $(pwd)"; echo oops >&2; exit 3');
    expect(attached).toEqual({ status: 3, stdout: 'hello world from /srv\n', stderr: 'oops\n' });
    // Options after the image belong to the command.
    expect((await cli('run', '--rm', IMAGE, 'printf', '%s,', '-e', '--rm', '-w')).stdout).toBe('-e,--rm,-w,');
    const workdir = await cli('run', '--rm', '-w', '/tmp/made', '-u', '0:0', '--network', 'none', IMAGE, 'sh', '-c', 'pwd; id -u; ls /sys/class/net');
    expect(workdir.stdout).toBe('/tmp/made\n0\nlo\n');
    expect((await cli('run', '--rm', '--entrypoint', 'echo', IMAGE)).stdout).toBe('\n');
    expect((await cli('run', '--rm', '--entrypoint', 'echo', IMAGE, 'a', 'b')).stdout).toBe('a b\n');

    const interactive = await cliWith({ stdin: Readable.from(['one\ntwo\nthree\n']) }, 'run', '-i', '--rm', IMAGE, 'sh', '-c', 'wc -l');
    expect(interactive.stdout).toBe('3\n');
    const tty = await cli('run', '--rm', '-it', IMAGE, 'sh', '-c', 'test -t 1 && echo "on a tty, TERM=$TERM"');
    expect(tty.stdout).toBe('on a tty, TERM=xterm\r\n');

    const missing = await cli('run', '--rm', 'no/such:image');
    expect(missing.status).toBe(125);
    expect(missing.stderr).toMatch(/^layerkit run: .*no\/such/);
    const badFlag = await cli('run', '--bogus', IMAGE);
    expect(badFlag.status).toBe(125);
    expect(badFlag.stderr).toContain('unknown flag: --bogus');
    // A command that cannot be found or run: 127 and 126, as Docker.
    expect((await cli('run', '--rm', IMAGE, 'no-such-program')).status).toBe(127);
    expect((await cli('run', '--rm', IMAGE, '/etc/passwd')).status).toBe(126);
    expect((await cli('ps', '-a', '-q')).stdout).toBe('');
  });

  it('run -d, ps, exec, logs, stop, start, pause, cp, diff, commit, rm -f', { timeout: 240_000 }, async (t) => {
    if (!ready) return t.skip();
    const mounts = await mountTable();
    const started = await cli('run', '-d', '--name', 'web', IMAGE, 'sh', '-c', 'echo started; echo warming >&2; exec sleep 4811');
    expect(started.status).toBe(0);
    expect(started.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    const id = started.stdout.trim();
    await cli('create', '--name', 'idle', IMAGE, 'true');

    const ps = await cli('ps');
    const [row] = columns(ps.stdout);
    expect(columns(ps.stdout)).toHaveLength(1);
    expect(row!['CONTAINER ID']).toBe(id.slice(0, 12));
    expect(row!.IMAGE).toBe(IMAGE);
    // Docker's 20 characters, the last one an ellipsis.
    expect(row!.COMMAND).toBe('"sh -c \'echo started…"');
    expect(row!.CREATED).toMatch(new RegExp(`^${SECONDS} ago$`));
    expect(row!.STATUS).toMatch(new RegExp(`^Up ${SECONDS}$`));
    expect(row!.NAMES).toBe('web');
    expect(row!.PORTS).toBe('');
    const all = columns((await cli('ps', '-a', '--no-trunc')).stdout);
    expect(all.map((r) => r.NAMES)).toEqual(['idle', 'web']);
    expect(all[0]!.STATUS).toBe('Created');
    expect(all[1]!.STATUS).toMatch(new RegExp(`^Up ${SECONDS}$`));
    expect(all[1]!['CONTAINER ID']).toBe(id);
    expect(all[1]!.COMMAND).toBe('"sh -c \'echo started; echo warming >&2; exec sleep 4811\'"');
    expect((await cli('ps', '-q')).stdout).toBe(`${id.slice(0, 12)}\n`);

    const exec = await cli('exec', '-e', 'X=1', '-w', '/', 'web', 'sh', '-c', 'echo "$X $(pwd)"; echo made > /srv/made.txt; rm /srv/old.txt; exit 4');
    expect(exec).toEqual({ status: 4, stdout: '1 /\n', stderr: '' });
    const fed = await cliWith({ stdin: Readable.from(['piped\n']) }, 'exec', '-i', 'web', 'cat');
    expect(fed.stdout).toBe('piped\n');
    expect((await cli('exec', 'web', 'no-such-program')).status).toBe(127);
    expect(await cli('logs', 'web')).toEqual({ status: 0, stdout: 'started\n', stderr: 'warming\n' });

    // pause: the freezer where this machine gives the container a cgroup v2, else the reason.
    const paused = await cli('pause', 'web');
    if (paused.status === 0) {
      expect(paused.stdout).toBe('web\n');
      expect(columns((await cli('ps')).stdout)[0]!.STATUS).toMatch(new RegExp(`^Up ${SECONDS} \\(Paused\\)$`));
      const blocked = await cli('exec', 'web', 'true');
      expect(blocked.status).toBe(1);
      expect(blocked.stderr).toContain('paused');
      expect(await cli('unpause', 'web')).toEqual({ status: 0, stdout: 'web\n', stderr: '' });
    } else {
      expect(paused.status).toBe(1);
      expect(paused.stderr).toMatch(/^layerkit pause: cannot pause web: .*cgroup/);
    }
    expect((await cli('unpause', 'web')).stderr).toContain('is not paused');

    // cp both ways, running.
    const host = await tempDir('layerkit-cli-cp-');
    await mkdir(join(host, 'conf.d'));
    await writeFile(join(host, 'conf.d/app.conf'), 'port=80\n');
    expect(await cli('cp', join(host, 'conf.d'), 'web:/etc/')).toEqual({ status: 0, stdout: '', stderr: '' });
    expect((await cli('exec', 'web', 'cat', '/etc/conf.d/app.conf')).stdout).toBe('port=80\n');
    expect((await cli('cp', 'web:/srv/made.txt', join(host, 'made.txt'))).status).toBe(0);
    expect(await readFile(join(host, 'made.txt'), 'utf8')).toBe('made\n');
    const twoContainers = await cli('cp', 'web:/a', 'idle:/b');
    expect(twoContainers.status).toBe(2);

    const stopped = await cli('stop', '-t', '0', 'web');
    expect(stopped).toEqual({ status: 0, stdout: 'web\n', stderr: '' });
    expect(columns((await cli('ps', '-a')).stdout).find((r) => r.NAMES === 'web')!.STATUS).toMatch(new RegExp(`^Exited \\(137\\) ${SECONDS} ago$`));
    expect(await processesWith('sleep 4811')).toEqual([]);

    // Stopped: cp into the writable layer still works, and start keeps it.
    await writeFile(join(host, 'late.txt'), 'late\n');
    expect((await cli('cp', join(host, 'late.txt'), 'web:/srv/late.txt')).status).toBe(0);
    expect(await cli('start', 'web')).toEqual({ status: 0, stdout: 'web\n', stderr: '' });
    expect((await cli('exec', 'web', 'cat', '/srv/made.txt', '/srv/late.txt')).stdout).toBe('made\nlate\n');

    expect((await cli('diff', 'web')).stdout).toBe(['C /etc', 'A /etc/conf.d', 'A /etc/conf.d/app.conf', 'C /srv', 'A /srv/late.txt', 'A /srv/made.txt', 'D /srv/old.txt', ''].join('\n'));

    const committed = await cli('commit', '-m', 'snapshot', '-a', 'ops', 'web', 'snap:v1');
    expect(committed.status).toBe(0);
    expect(committed.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const imageId = committed.stdout.trim();
    const images = await cli('images');
    expect(images.stdout.split('\n').find((l) => l.startsWith('snap '))).toMatch(new RegExp(`^snap\\s+v1\\s+${imageId.slice(7, 19)}\\s`));
    const [doc] = JSON.parse((await cli('inspect', 'snap:v1')).stdout) as Array<{ Id: string; Author: string; Config: { Cmd: string[]; WorkingDir: string } }>;
    expect(doc!.Id).toBe(imageId);
    expect(doc!.Author).toBe('ops');
    expect(doc!.Config.Cmd).toEqual(['sh', '-c', 'echo started; echo warming >&2; exec sleep 4811']);
    expect(doc!.Config.WorkingDir).toBe('/srv');
    const fromSnapshot = await cli('run', '--rm', 'snap:v1', 'sh', '-c', 'cat /srv/made.txt /etc/conf.d/app.conf; ls /srv');
    expect(fromSnapshot.stdout).toBe('made\nport=80\nlate.txt\nmade.txt\n');
    expect((await cli('diff', IMAGE, 'snap:v1')).stdout).toBe(['C /etc', 'A /etc/conf.d', 'A /etc/conf.d/app.conf', 'C /srv', 'A /srv/late.txt', 'A /srv/made.txt', 'D /srv/old.txt', ''].join('\n'));
    expect((await cli('diff', 'a', 'b', 'c')).status).toBe(2);

    const { cgroup } = JSON.parse(await readFile(join(store, 'containers', id, 'state.json'), 'utf8')) as { cgroup?: string };
    const removed = await cli('rm', 'web');
    expect(removed.status).toBe(1);
    expect(removed.stderr).toContain('running');
    expect(await cli('rm', '-f', 'web', 'idle')).toEqual({ status: 0, stdout: 'web\nidle\n', stderr: '' });
    expect(columns((await cli('ps', '-a')).stdout)).toEqual([]);
    expect(await processesWith('sleep 4811')).toEqual([]);
    expect(await mountTable()).toEqual(mounts);
    if (cgroup !== undefined) expect(existsSync(cgroup)).toBe(false);
  });

  it('start -a returns the exit code; errors exit 1; every verb has --help', { timeout: 120_000 }, async (t) => {
    if (!ready) return t.skip();
    await cli('create', '--name', 'once', IMAGE, 'sh', '-c', 'echo again; exit 5');
    expect(await cli('start', '-a', 'once')).toEqual({ status: 5, stdout: 'again\n', stderr: '' });
    expect(await cli('start', '-a', 'once')).toEqual({ status: 5, stdout: 'again\n', stderr: '' });
    expect((await cli('logs', 'once')).stdout).toBe('again\nagain\n');
    expect(columns((await cli('ps', '-a')).stdout)[0]!.STATUS).toMatch(new RegExp(`^Exited \\(5\\) ${SECONDS} ago$`));
    expect((await cli('create', '--name', 'once', IMAGE)).stderr).toContain('already in use');
    await cli('rm', 'once');
    const missing = await cli('exec', 'nothing', 'true');
    expect(missing.status).toBe(1);
    expect(missing.stderr).toBe('layerkit exec: no such container: nothing\n');
    for (const verb of ['create', 'run', 'ps', 'start', 'stop', 'restart', 'pause', 'unpause', 'exec', 'logs', 'commit', 'cp', 'diff', 'rm']) {
      const help = await main([verb, '--help'], { stdout: () => {}, stderr: () => {}, readText: async () => '' });
      expect([verb, help]).toEqual([verb, 0]);
    }
    let listing = '';
    await main(['--help'], { stdout: (t) => void (listing += t), stderr: () => {}, readText: async () => '' });
    for (const verb of ['run', 'ps', 'exec', 'commit', 'cp', 'diff', 'rm']) expect(listing).toMatch(new RegExp(`^  ${verb} +\\S`, 'm'));
  });

  it('the real program: exit codes, stdin, a detached container across processes', { timeout: 180_000 }, async (t) => {
    if (!ready) return t.skip();
    const mounts = await mountTable();
    expect(await binary(['run', '--store', store, '--rm', IMAGE, 'sh', '-c', 'echo from the binary; exit 7'])).toEqual({ status: 7, stdout: 'from the binary\n', stderr: '' });
    expect((await binary(['run', '--store', store, '--rm', '-i', IMAGE, 'tr', 'a-z', 'A-Z'], 'shout\n')).stdout).toBe('SHOUT\n');
    expect((await binary(['run', '--store', store, '--rm', 'missing:image'])).status).toBe(125);
    const detached = await binary(['run', '--store', store, '-d', '--name', 'bg', IMAGE, 'sleep', '4812']);
    expect(detached.status).toBe(0);
    // The program has exited; the supervisor keeps the container running.
    expect(columns((await binary(['ps', '--store', store])).stdout).map((r) => r.NAMES)).toEqual(['bg']);
    expect((await binary(['exec', '--store', store, 'bg', 'sh', '-c', 'exit 9'])).status).toBe(9);
    expect(await binary(['rm', '--store', store, '-f', 'bg'])).toEqual({ status: 0, stdout: 'bg\n', stderr: '' });
    expect(await processesWith('sleep 4812')).toEqual([]);
    expect(await mountTable()).toEqual(mounts);
  });
});
