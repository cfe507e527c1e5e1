/**
 * Attached processes of a container — `run`/`start` without `-d`, and
 * `exec` — with Docker's `-i` (standard input passed through) and `-t` (a
 * pseudo-terminal).
 *
 * The sandbox's setup script gives the command `/dev/null` as stdin (it may
 * read secrets from its own stdin first), so for `-i` the caller's stdin
 * travels on fd 5 past the setup and is put back as fd 0 by a host shell
 * just before the final command. For `-t` the whole command runs under
 * util-linux `script`, which makes a pseudo-terminal on the host's devpts and
 * relays it (stdout and stderr then arrive as one stream, with the
 * terminal's `\r\n`, as with `docker run -t`); Node has no pty API.
 * @module
 */
import { execFile, spawn } from 'node:child_process';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import { SandboxError } from '../sandbox/errors.js';
import { networkOnPid, PID_LINE, setupLog, SIGKILLED, type UserNetworkPlan } from '../sandbox/process.js';
import type { UserNetwork } from '../sandbox/user-network.js';
import { closeFifo } from '../sandbox/user-network.js';
import { shellQuote } from '../sandbox/script.js';
import { execFailureFilter } from '../sandbox/exec-failure.js';
import { isTtyInit } from '../sandbox/prepare-step.js';
import { TimedLog } from './logs.js';

/**
 * Output callback of attached runs and `exec`.
 *
 * @example
 * ```ts
 * const onOutput: OutputListener = (stream, chunk) => (stream === 'stdout' ? process.stdout : process.stderr).write(chunk);
 * ```
 */
export type OutputListener = (stream: 'stdout' | 'stderr', chunk: Uint8Array) => void;

/**
 * How to attach to a container's process.
 *
 * @example
 * ```ts
 * const attach: AttachOptions = { stdin: process.stdin, tty: process.stdin.isTTY, onOutput: (s, c) => process.stdout.write(c) };
 * ```
 */
export interface AttachOptions {
  /** `-i`: bytes for the command's standard input (default: `/dev/null`). */
  stdin?: Readable;
  /** `-t`: run the command on a pseudo-terminal. */
  tty?: boolean;
  /**
   * With `tty`: the caller's terminal, whose size the container's terminal
   * takes at the start and after every change (the CLI passes its stdout's).
   */
  terminal?: TerminalSize;
  onOutput?: OutputListener;
  /** Kills the container's processes when aborted. */
  signal?: AbortSignal;
}

/**
 * The size of the terminal a container's terminal follows.
 *
 * @example
 * ```ts
 * const terminal: TerminalSize = {
 *   size: () => ({ columns: process.stdout.columns, rows: process.stdout.rows }),
 *   onResize: (listener) => (process.stdout.on('resize', listener), () => process.stdout.off('resize', listener)),
 * };
 * ```
 */
export interface TerminalSize {
  size(): { columns: number; rows: number };
  /** Calls `listener` on each change; returns what stops it. */
  onResize(listener: () => void): () => void;
}

/** What {@link runAttached} needs beyond {@link AttachOptions}. */
export interface AttachedProcess extends AttachOptions {
  /** The argv to run on the host. */
  argv: string[];
  /** The host's `/bin/sh` and `script`. */
  sh: string;
  script?: string;
  /** Where the setup reports (fd 3: `pid N`, `exec`), mirrored into the container's `status` file. */
  statusFile?: string;
  /** Files the output is appended to (the container's logs). */
  logs?: { stdout: string; stderr: string };
  /** A user-mode network to start once the init reports its pid. */
  userNetwork?: UserNetworkPlan | undefined;
  /** `exec -t`: `argv` already runs the command on a terminal of the container's. */
  terminalBuilt?: boolean;
}

/** How an attached process ended. */
export interface AttachedExit {
  /** Exit code (128 + signal number when killed by a signal). */
  exitCode: number;
  /** For runs: true once the setup handed over to the command. */
  started: boolean;
  /** For runs: the setup's diagnostics (fd 3). */
  setupLog: string;
}

/**
 * Inserts, just before the setup script's final command, a host shell that
 * makes fd 5 (the caller's stdin, carried past the setup) the command's
 * stdin again. `argv` is the sandbox's `unshare … -- sh -c SCRIPT sh FINAL…`.
 */
export function restoreStdin(argv: string[], sh: string): string[] {
  // The last `-- sh -c`: the setup script (an outer one is the pid namespaces' init).
  for (let i = argv.length - 3; i >= 2; i--) {
    if (argv[i - 2] === '--' && argv[i - 1] === sh && argv[i] === '-c') {
      return [...argv.slice(0, i + 3), sh, '-c', 'exec 0<&5 5<&-; exec "$@"', 'stdin', ...argv.slice(i + 3)];
    }
  }
  throw new SandboxError('SANDBOX_SETUP_FAILED', 'the sandbox argv has no setup script to relay stdin past', { reason: 'unexpected argv' });
}

const STATUS_SWAP = 'exec 4>&3 3>&2 2>&4 4>&-; exec "$@"';
const STDIN_PAST_SETUP = 'exec 5<&0; exec "$@"';

/**
 * The host argv of an attached process. A run's namespace tools get the
 * status channel (fd 3 here) as stderr and hand the command's stderr on as
 * fd 3; its stdin (a pipe, or the terminal) gets past the setup script (see
 * {@link restoreStdin}). On a terminal, a run's argv was prepared with
 * `ttyInit` (the terminal is made inside its namespaces, from a devpts
 * instance of its own) and everything after that init becomes the one
 * command string `script` runs; `exec` builds its terminal itself
 * (`terminalBuilt`).
 */
export function attachedArgv(proc: Pick<AttachedProcess, 'argv' | 'sh' | 'stdin' | 'tty' | 'statusFile' | 'terminalBuilt' | 'terminal'>): string[] {
  const { argv, sh } = proc;
  if (proc.statusFile === undefined) return argv;
  const withStdin = (inner: string[]) => (proc.stdin !== undefined || proc.tty === true ? [sh, '-c', STDIN_PAST_SETUP, 'attach', ...restoreStdin(inner, sh)] : inner);
  if (!proc.tty) return [sh, '-c', STATUS_SWAP, 'status', ...withStdin(argv)];
  const at = argv.findIndex(isTtyInit);
  if (at < 2 || argv[at - 1] !== '-c') throw new SandboxError('SANDBOX_SETUP_FAILED', 'the sandbox argv was not prepared for a terminal', { reason: 'unexpected argv' });
  const inner = [sh, '-c', STATUS_SWAP, 'status', ...withStdin(argv.slice(at + 2))];
  return [sh, '-c', 'exec 2>&3; exec "$@"', 'terminal', ...argv.slice(0, at + 2), withTerminalSize(inner, proc.terminal)];
}

/**
 * The command string `script` runs on a new terminal: the caller's size set
 * first (by the host's `stty`, before the command starts), then the argv.
 */
export function withTerminalSize(argv: string[], terminal: TerminalSize | undefined): string {
  const command = argv.map(shellQuote).join(' ');
  const size = terminal?.size();
  if (!size || !(size.columns > 0 && size.rows > 0)) return command;
  return `stty rows ${Math.trunc(size.rows)} cols ${Math.trunc(size.columns)} 2>/dev/null; exec ${command}`;
}

/**
 * Runs an attached process: stdin relayed (`-i`), a pty (`-t`), output
 * streamed and logged, fd 3 read as the setup's report when there is one.
 * Resolves when the process has ended.
 */
export function runAttached(proc: AttachedProcess): Promise<AttachedExit> {
  const command = attachedArgv(proc);
  const run = proc.statusFile !== undefined;
  // Each chunk with its time (see logs.ts), written as it comes.
  const logs = proc.logs ? { stdout: new TimedLog(proc.logs.stdout), stderr: new TimedLog(proc.logs.stderr) } : undefined;
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), {
      stdio: [proc.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe', run ? 'pipe' : 'ignore'],
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C', SHELL: proc.sh },
      cwd: '/',
    });
    let network: UserNetwork | undefined;
    let status = '';
    let initPid = 0;
    let started = false;
    let tail = '';
    const emit = (stream: 'stdout' | 'stderr', chunk: Buffer) => {
      logs?.[stream].write(chunk);
      proc.onOutput?.(stream, new Uint8Array(chunk));
    };
    // The command's exec failing is said in the runtime's words (on a terminal, stdout carries it).
    const commandErr = execFailureFilter((chunk) => emit(proc.tty ? 'stdout' : 'stderr', chunk));
    child.stdout!.on('data', (chunk: Buffer) => (proc.tty ? commandErr.write(chunk) : emit('stdout', chunk)));
    child.stderr!.on('data', (chunk: Buffer) => {
      tail = (tail + chunk.toString('latin1')).slice(-256);
      if (proc.tty) emit('stderr', chunk);
      else commandErr.write(chunk);
    });
    if (run) {
      const statusStream = child.stdio[3] as Readable;
      statusStream.setEncoding('utf8');
      statusStream.on('data', (text: string) => {
        status += text;
        void writeFile(proc.statusFile!, status).catch(() => {});
        const pid = PID_LINE.exec(status);
        if (pid && initPid === 0) {
          initPid = Number(pid[1]);
          if (proc.userNetwork) network = networkOnPid(proc.userNetwork, initPid);
        }
        if (/^exec$/m.test(status)) started = true;
        if (proc.signal?.aborted) kill();
      });
      statusStream.on('error', () => {});
    }
    if (proc.stdin && child.stdin) {
      child.stdin.on('error', () => {});
      proc.stdin.pipe(child.stdin);
    }
    // The container's terminal follows the caller's: stty on the terminal the command holds (its fd 0).
    let stopResize = () => {};
    if (proc.tty && proc.terminal) {
      const terminal = proc.terminal;
      const resize = () => void resizeTerminal(run ? initPid : 0, child.pid, terminal.size());
      const first = setInterval(() => {
        if (run && !started) return;
        clearInterval(first);
        resize();
      }, 20);
      const off = terminal.onResize(resize);
      stopResize = () => {
        clearInterval(first);
        off();
      };
    }
    const kill = () => {
      try {
        if (initPid !== 0) process.kill(initPid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        // Already gone.
      }
    };
    proc.signal?.addEventListener('abort', kill, { once: true });
    if (proc.signal?.aborted) kill();
    const finish = () => {
      stopResize();
      proc.signal?.removeEventListener('abort', kill);
      if (proc.stdin && child.stdin) {
        proc.stdin.unpipe(child.stdin);
        proc.stdin.pause();
      }
    };
    child.on('error', (err) => {
      finish();
      reject(err);
    });
    child.on('close', async (code, signal) => {
      commandErr.end();
      finish();
      network?.stop();
      if (proc.userNetwork) closeFifo(proc.userNetwork.goFd);
      logs?.stdout.close();
      logs?.stderr.close();
      let exitCode = code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
      // util-linux unshare reports its child's SIGKILL this way (see process.ts); nsenter's child, on its stderr.
      if (exitCode === 1 && (run ? started && SIGKILLED.test(status) : SIGKILLED.test(tail))) exitCode = 128 + constants.signals.SIGKILL;
      resolve({ exitCode, started: !run || started, setupLog: setupLog(status) });
    });
  });
}

/**
 * Sets the size of the terminal held as fd 0 by `pid` (a run's init), or by
 * the first descendant of `root` holding a `/dev/pts` terminal (`exec`).
 * The kernel then sends SIGWINCH to the terminal's foreground group.
 */
async function resizeTerminal(pid: number, root: number | undefined, size: { columns: number; rows: number }): Promise<void> {
  let holder = 0;
  for (let attempt = 0; holder === 0 && attempt < 100; attempt++) {
    // A run's init holds the terminal once its stdin has been given back past the setup.
    if (pid !== 0) holder = (await holdsTerminal(pid)) ? pid : 0;
    else if (root !== undefined) holder = (await terminalHolder(root)) ?? 0;
    if (holder === 0) await new Promise((r) => setTimeout(r, 20));
  }
  if (holder === 0 || !(size.columns > 0 && size.rows > 0)) return;
  await new Promise<void>((resolve) => {
    execFile('stty', ['-F', `/proc/${holder}/fd/0`, 'rows', String(size.rows), 'cols', String(size.columns)], { env: { PATH: '/usr/bin:/bin' } }, () => resolve());
  });
}

/** A descendant of `root` whose fd 0 is a `/dev/pts` terminal. */
async function terminalHolder(root: number): Promise<number | undefined> {
  const parents = new Map<number, number>();
  for (const name of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid > 0) parents.set(Number(name), ppid);
  }
  for (const [pid] of parents) {
    let up = parents.get(pid);
    while (up !== undefined && up !== root) up = parents.get(up);
    if (up !== root) continue;
    if (await holdsTerminal(pid)) return pid;
  }
  return undefined;
}

/** Whether `pid`'s fd 0 is a pseudo-terminal slave (Unix 98 majors 136–143). */
async function holdsTerminal(pid: number): Promise<boolean> {
  const info = await stat(`/proc/${pid}/fd/0`).catch(() => undefined);
  if (!info?.isCharacterDevice()) return false;
  const major = (info.rdev >> 8) & 0xfff;
  return major >= 136 && major <= 143;
}
