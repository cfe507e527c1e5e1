/**
 * The real `layerkit` program for the habits suites: `node --import tsx
 * src/cli/main.ts` in a chosen directory, with bytes or text on standard
 * input, as a user runs it from a shell.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const repo = join(import.meta.dirname, '../..');
// Resolved here, so that the program also starts from a directory outside the checkout.
const tsx = import.meta.resolve('tsx');

export interface ProgramResult {
  status: number;
  stdout: string;
  stderr: string;
  /** Standard output as bytes (tar streams). */
  bytes: Buffer;
}

export interface ProgramOptions {
  cwd?: string;
  input?: string | Uint8Array;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** Runs `layerkit ARGS` and resolves with its exit status and output. */
export function layerkit(args: string[], options: ProgramOptions = {}): Promise<ProgramResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', tsx, join(repo, 'src/cli/main.ts'), ...args], {
      cwd: options.cwd ?? repo,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const bytes = Buffer.concat(out);
      resolve({ status: code ?? (signal ? 128 : -1), stdout: bytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), bytes });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}
