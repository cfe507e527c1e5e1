/**
 * `layerkit run -it` and `exec -it` as a user types them, in a real
 * terminal (a tmux pane): the container has a terminal of its own
 * (`tty` says /dev/pts/0), the host side is raw (every line echoed once, no
 * cursor-report junk), the container's size follows the pane's, and no
 * message of the sandbox's tools (`unshare: …`) ever shows.
 */
import { execFile } from 'node:child_process';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxExecutor } from '../../src/sandbox/index.js';
import { ImageStore } from '../../src/image/store/store.js';
import { buildText, requireTool, sandboxReady, tempDir, writeContext } from '../builder/helpers.js';
import { eventually, repo } from '../builder/sandbox-isolation-helpers.js';

const run = promisify(execFile);
const IMAGE = 'busybox:tty';
const SOCKET = `layerkit-tty-${process.pid}`;
let ready = false;
let store = '';

beforeAll(async () => {
  if (!(await sandboxReady('terminal tests', { overlay: true })) || !(await requireTool('tmux'))) return;
  store = await tempDir('layerkit-tty-');
  const context = await writeContext({ 'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n' });
  await copyFile('/bin/busybox', join(context, 'busybox'));
  await buildText('FROM scratch\nCOPY busybox /bin/busybox\nCOPY etc/ /etc/\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nCMD ["sh"]\n', {}, {
    executor: sandboxExecutor(),
    store: new ImageStore(store),
    context,
    tags: IMAGE,
  });
  ready = true;
}, 180_000);

afterAll(async () => {
  await run('tmux', ['-L', SOCKET, 'kill-server']).catch(() => {});
  if (ready) await run(process.execPath, ['--import', 'tsx', join(repo, 'src/cli/main.ts'), 'rm', '--store', store, '-f', 'ttyc'], { cwd: repo }).catch(() => {});
});

const tmux = (...args: string[]) => run('tmux', ['-L', SOCKET, ...args]).then((r) => r.stdout);
const pane = (name: string) => tmux('capture-pane', '-p', '-J', '-t', name);
const layerkit = (args: string) => `${process.execPath} --import tsx ${join(repo, 'src/cli/main.ts')} ${args}`;

/** Starts `command` in a new tmux session of `columns`×`rows`; the pane stays after it ends. */
async function session(name: string, command: string, columns: number, rows: number): Promise<void> {
  await tmux('new-session', '-d', '-s', name, '-x', String(columns), '-y', String(rows), `cd ${repo} && ${command}; echo "EXITED-$?"; sleep 120`);
}

async function typeLine(name: string, line: string): Promise<void> {
  await tmux('send-keys', '-t', name, '-l', line);
  await tmux('send-keys', '-t', name, 'Enter');
}

async function waitFor(name: string, text: string | RegExp, ms = 60_000): Promise<string> {
  let last = '';
  const ok = await eventually(async () => {
    last = await pane(name);
    return typeof text === 'string' ? last.includes(text) : text.test(last);
  }, ms);
  expect(ok, `waiting for ${String(text)} in:\n${last}`).toBe(true);
  return last;
}

const NO_LEAKS = /unshare:|nsenter:|setpriv:|sigprocmask|\^\[\[|\x1b\[\d+;\d+R/;

describe('run -it and exec -it on a real terminal', () => {
  it('run -it … sh: its own /dev/pts/0, one echo per line, the size follows the pane, the exit code comes back', { timeout: 120_000 }, async (t) => {
    if (!ready) return t.skip();
    await session('run', layerkit(`run --store ${store} --rm -it ${IMAGE} sh`), 100, 30);
    await waitFor('run', '/ # ');
    await typeLine('run', 'tty; stty size; echo "marker-$((6*7))"');
    let screen = await waitFor('run', 'marker-42');
    expect(screen).toContain('/dev/pts/0\n30 100\n');
    // The typed line is echoed once, by the container's terminal.
    expect(screen.split('\n').filter((l) => l.includes('echo "marker-$((6*7))"'))).toHaveLength(1);
    await tmux('resize-window', '-t', 'run', '-x', '120', '-y', '40');
    await eventually(async () => (await tmux('display', '-p', '-t', 'run', '#{pane_width}x#{pane_height}')).trim() === '120x40');
    await typeLine('run', 'stty size');
    screen = await waitFor('run', '40 120');
    await typeLine('run', 'exit 3');
    screen = await waitFor('run', 'EXITED-3');
    expect(screen).not.toMatch(NO_LEAKS);
  });

  it('a command that cannot be found says so in the runtime\'s words, 127', { timeout: 60_000 }, async (t) => {
    if (!ready) return t.skip();
    await session('missing', layerkit(`run --store ${store} --rm -it ${IMAGE} nosuchcommand`), 100, 30);
    const screen = await waitFor('missing', 'EXITED-');
    expect(screen).toContain('exec: "nosuchcommand": executable file not found in $PATH\nEXITED-127');
    expect(screen).not.toMatch(NO_LEAKS);
  });

  it('exec -it into a running container: a /dev/pts terminal of the container, sized as the pane', { timeout: 120_000 }, async (t) => {
    if (!ready) return t.skip();
    await run(process.execPath, ['--import', 'tsx', join(repo, 'src/cli/main.ts'), 'run', '--store', store, '-d', '--name', 'ttyc', IMAGE, 'sleep', '600'], { cwd: repo });
    await session('exec', layerkit(`exec --store ${store} -it ttyc sh`), 90, 25);
    await waitFor('exec', '/ # ');
    await typeLine('exec', 'tty; stty size; echo "done-$((1+1))"');
    const screen = await waitFor('exec', 'done-2');
    expect(screen).toMatch(/\/dev\/pts\/\d+\n25 90\n/);
    await typeLine('exec', 'exit 4');
    expect(await waitFor('exec', 'EXITED-4')).not.toMatch(NO_LEAKS);
  });
});
