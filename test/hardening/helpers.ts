/**
 * Helpers of the hardening suites: the real `layerkit` program as a child
 * process, private temporary directories, and small tmpfs mounts for
 * disk-full runs (root only; outside CI a suite without them skips and says why).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

export const repo = join(import.meta.dirname, '../..');
const exec = promisify(execFile);

/** What a finished `layerkit` run printed, and its exit status. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** The argv that runs the CLI from source, as the installed program would. */
export function cliArgv(args: string[]): string[] {
  return ['--import', 'tsx', join(repo, 'src/cli/main.ts'), ...args];
}

/** Runs `layerkit ARGS` to completion (never rejects: the status is in `code`). */
export function cli(args: string[], options: { env?: Record<string, string>; input?: Uint8Array; timeoutMs?: number } = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      cliArgv(args),
      { cwd: repo, env: { ...process.env, ...options.env }, timeout: options.timeoutMs ?? 180_000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: unknown }).code as number | undefined) : 0;
        resolve({ code: typeof code === 'number' ? code : 1, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    if (options.input) child.stdin!.end(options.input);
    else child.stdin!.end();
  });
}

/** Starts `layerkit ARGS` without waiting. */
export function startCli(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, cliArgv(args), { cwd: repo, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Resolves when the child has exited, with its signal or status. */
export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** Polls `check` every 50 ms until it is true, or fails after `timeoutMs`. */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A private temporary directory, removed by the returned function. */
export async function scratch(prefix = 'layerkit-hardening-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeAll(...dirs: string[]): Promise<void> {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
}

/** Names in `dir` (none when it does not exist). */
export async function names(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).sort();
}

/**
 * Whether this process may mount file systems (root). Outside CI a suite
 * that needs it skips with the reason; under `CI=true` not being root fails.
 */
export function canMount(suite: string): boolean {
  if (process.getuid?.() === 0 && process.platform === 'linux') return true;
  const reason = `${suite} mounts a small tmpfs and needs root on Linux`;
  if (process.env.CI) throw new Error(reason);
  console.warn(`skipping ${suite}: ${reason}`);
  return false;
}

/** Mounts a tmpfs of `mib` MiB at a new directory and returns it with its unmount. */
export async function smallTmpfs(mib: number): Promise<{ dir: string; unmount: () => Promise<void> }> {
  const dir = await scratch('layerkit-tmpfs-');
  await exec('mount', ['-t', 'tmpfs', '-o', `size=${mib}m,mode=0755`, 'tmpfs', dir]);
  return {
    dir,
    unmount: async () => {
      await exec('umount', ['-l', dir]).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Whether output shows a stack trace or a crash of Node (what user input must never cause). */
export function crashed(stderr: string): boolean {
  return /\n\s+at [^\n]+:\d+:\d+\)?\n|node:internal|^Node\.js v|\nNode\.js v|Error \[ERR_|Unhandled/.test(stderr);
}

/** The bytes of the files under `dir`, all levels (0 for a directory that is gone). */
export async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const info = await stat(join(dir, name)).catch(() => undefined);
    if (info?.isDirectory()) total += await dirBytes(join(dir, name));
    else total += info?.size ?? 0;
  }
  return total;
}
