/**
 * Starting the namespaces of one step and supervising them: output streamed
 * as it comes, a bounded tail kept for error messages, the namespace's init
 * killed (which kills every process of the step) on abort or timeout.
 * @module
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { SandboxCapabilities } from './probe.js';
import { execFailureFilter } from './exec-failure.js';
import { closeFifo, release, startUserNetwork, type UserNetwork } from './user-network.js';

/** How the step's processes ended. */
export interface SandboxExit {
  /** Exit code (128 + signal number when killed by a signal). */
  exitCode: number;
  /** True once the setup script handed over to the command. */
  started: boolean;
  /** Setup diagnostics (fd 3), when the command never started. */
  setupLog: string;
  /** The last bytes of the combined output. */
  tail: string;
  /** Why the step was stopped, if it was. */
  stopped?: 'abort' | 'timeout';
}

/** What {@link runSandbox} needs. */
export interface SandboxProcess {
  /** `unshare` and its arguments (namespaces), then `/bin/sh -c SCRIPT sh FINAL…`. */
  argv: string[];
  /** Bytes for the setup script's stdin (the step's private files, concatenated). */
  input: Uint8Array;
  onOutput(stream: 'stdout' | 'stderr', chunk: Uint8Array): void;
  signal?: AbortSignal | undefined;
  timeoutMs?: number | undefined;
  /** Bytes of output kept for the error message. */
  tailBytes?: number;
  /** A user-mode network to start once the init reports its pid (see `user-network.ts`). */
  userNetwork?: UserNetworkPlan | undefined;
}

/** What starting a sandbox's user-mode network needs. */
export interface UserNetworkPlan {
  caps: SandboxCapabilities;
  stepDir: string;
  /** The step's FIFO, open read-write (closed when the sandbox ends). */
  goFd: number;
  /** Ask for slirp4netns's API socket (to publish ports). */
  api?: boolean;
  /** Called once the network is up (publish ports here), before the command is let go. */
  onReady?(network: UserNetwork): Promise<void>;
}

/** `pid N START` on the status channel: the init's host pid and start time (`/proc/N/stat` field 22). */
export const PID_LINE = /^pid (\d+)(?: (\d+))?$/m;

/**
 * Starts the user-mode network when the status names the init, then writes
 * the go line. Returns the running network (to stop when the sandbox ends).
 */
export function networkOnPid(plan: UserNetworkPlan, pid: number): UserNetwork {
  const network = startUserNetwork(plan.caps, pid, plan.stepDir, { api: plan.api === true });
  network.ready.then(
    async () => {
      await plan.onReady?.(network);
      release(plan.goFd, true);
    },
    () => release(plan.goFd, false),
  ).catch(() => release(plan.goFd, false));
  return network;
}

/**
 * util-linux `unshare --fork` passes a child's death by signal on by
 * raising the signal on itself, which cannot be done for SIGKILL: it then
 * prints this (on the status channel) and exits 1. Such an exit is
 * reported as 137, as a shell would.
 */
export const SIGKILLED = /unshare: sigprocmask unblock failed/;

/** The setup's diagnostics: the status channel without its protocol lines and the tools' SIGKILL notice. */
export function setupLog(status: string): string {
  return status
    .replace(/^(pid \d+( \d+)?|exec)\n/gm, '')
    .replace(/^unshare: sigprocmask unblock failed[^\n]*\n?/gm, '')
    .trim();
}

const CLEAN_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };

/**
 * Runs a step's namespaces to completion. Never leaves a process behind when it resolves.
 * The namespace tools' stderr (fd 2) is the status channel; the command's stderr is fd 3.
 */
export function runSandbox(proc: SandboxProcess): Promise<SandboxExit> {
  return new Promise((resolve, reject) => {
    const [program, ...args] = proc.argv;
    const child = spawn(program!, args, { stdio: ['pipe', 'pipe', 'pipe', 'pipe'], env: CLEAN_ENV, cwd: '/' });
    let network: UserNetwork | undefined;
    const tailMax = proc.tailBytes ?? 4096;
    let tail = Buffer.alloc(0);
    let status = '';
    let initPid = 0;
    let started = false;
    let stopped: SandboxExit['stopped'];

    const keep = (chunk: Buffer) => {
      tail = Buffer.concat([tail, chunk]);
      if (tail.length > tailMax * 2) tail = tail.subarray(tail.length - tailMax);
    };
    child.stdout!.on('data', (chunk: Buffer) => {
      keep(chunk);
      proc.onOutput('stdout', new Uint8Array(chunk));
    });
    const commandErr = execFailureFilter((chunk) => {
      keep(chunk);
      proc.onOutput('stderr', new Uint8Array(chunk));
    });
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (chunk: Buffer) => commandErr.write(chunk));
    const statusStream = child.stderr!;
    statusStream.setEncoding('utf8');
    statusStream.on('data', (text: string) => {
      status += text;
      const pid = PID_LINE.exec(status);
      if (pid && initPid === 0) {
        initPid = Number(pid[1]);
        if (proc.userNetwork && !stopped) network = networkOnPid(proc.userNetwork, initPid);
      }
      if (/^exec$/m.test(status)) started = true;
      if (stopped && initPid !== 0) kill();
    });
    statusStream.on('error', () => {});
    child.stdin!.on('error', () => {});
    child.stdin!.end(proc.input);

    // Killing the namespace's init (pid 1 inside) makes the kernel kill every
    // other process of the namespace; the parent `unshare` then exits with it.
    const kill = () => {
      try {
        if (initPid !== 0) process.kill(initPid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const stop = (why: 'abort' | 'timeout') => {
      if (stopped) return;
      stopped = why;
      kill();
    };
    const onAbort = () => stop('abort');
    proc.signal?.addEventListener('abort', onAbort, { once: true });
    if (proc.signal?.aborted) stop('abort');
    const timer = proc.timeoutMs === undefined ? undefined : setTimeout(() => stop('timeout'), proc.timeoutMs);

    child.on('error', (err) => {
      proc.signal?.removeEventListener('abort', onAbort);
      if (timer) clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      commandErr.end();
      proc.signal?.removeEventListener('abort', onAbort);
      if (timer) clearTimeout(timer);
      network?.stop();
      if (proc.userNetwork) closeFifo(proc.userNetwork.goFd);
      let exitCode = code ?? 128 + signalNumber(signal);
      const text = tail.subarray(Math.max(0, tail.length - tailMax)).toString('utf8');
      if (exitCode === 1 && started && SIGKILLED.test(status)) exitCode = 128 + constants.signals.SIGKILL;
      const exit: SandboxExit = {
        exitCode,
        started,
        setupLog: setupLog(status),
        tail: text,
      };
      if (stopped) exit.stopped = stopped;
      resolve(exit);
    });
  });
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? (constants.signals[signal] ?? 0) : 0;
}
