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
import { spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import { SandboxError } from '../errors.js';
import { networkOnPid, PID_LINE, setupLog, SIGKILLED, type UserNetworkPlan } from '../process.js';
import type { UserNetwork } from '../user-network.js';
import { closeFifo } from '../user-network.js';
import { shellQuote } from '../script.js';

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
  onOutput?: OutputListener;
  /** Kills the container's processes when aborted. */
  signal?: AbortSignal;
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

/**
 * Runs an attached process: stdin relayed (`-i`), a pty (`-t`), output
 * streamed and logged, fd 3 read as the setup's report when there is one.
 * Resolves when the process has ended.
 */
export function runAttached(proc: AttachedProcess): Promise<AttachedExit> {
  let command = proc.argv;
  const run = proc.statusFile !== undefined;
  // A run's stdin (a pipe, or the pty) must get past the setup script: see restoreStdin.
  if ((proc.stdin !== undefined || proc.tty === true) && run) {
    command = [proc.sh, '-c', 'exec 5<&0; exec "$@"', 'attach', ...restoreStdin(command, proc.sh)];
  }
  // The namespace tools' stderr is the status channel (arriving here as fd 3), the command's is fd 3 for them.
  if (run) command = [proc.sh, '-c', 'exec 4>&3 3>&2 2>&4 4>&-; exec "$@"', 'status', ...command];
  if (proc.tty) {
    if (!proc.script) throw new SandboxError('SANDBOX_UNAVAILABLE', 'a terminal (-t) needs script (Debian package bsdutils)', { reason: 'script not found' });
    command = [proc.script, '-qec', command.map(shellQuote).join(' '), '/dev/null'];
  }
  const logs = proc.logs ? { stdout: createWriteStream(proc.logs.stdout, { flags: 'a' }), stderr: createWriteStream(proc.logs.stderr, { flags: 'a' }) } : undefined;
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
    child.stdout!.on('data', (chunk: Buffer) => emit('stdout', chunk));
    child.stderr!.on('data', (chunk: Buffer) => {
      tail = (tail + chunk.toString('latin1')).slice(-256);
      emit('stderr', chunk);
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
      finish();
      network?.stop();
      if (proc.userNetwork) closeFifo(proc.userNetwork.goFd);
      if (logs) await Promise.all([closeStream(logs.stdout), closeStream(logs.stderr)]);
      let exitCode = code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
      // util-linux unshare reports its child's SIGKILL this way (see process.ts); nsenter's child, on its stderr.
      if (exitCode === 1 && (run ? started && SIGKILLED.test(status) : SIGKILLED.test(tail))) exitCode = 128 + constants.signals.SIGKILL;
      resolve({ exitCode, started: !run || started, setupLog: setupLog(status) });
    });
  });
}

function closeStream(stream: WriteStream): Promise<void> {
  return new Promise((resolve) => stream.end(() => resolve()));
}
