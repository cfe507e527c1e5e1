/**
 * Helpers of the isolation tests: the user-mode network's readiness (under
 * CI it must be there), a host address that is not loopback, a small HTTP
 * server the sandbox should or should not reach, polling, and the real
 * `layerkit` program as a child process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { probeSandbox } from '../../src/sandbox/probe.js';

export const repo = join(import.meta.dirname, '../..');

/** Whether slirp4netns can give a sandbox its network here; under CI its absence fails the suite. */
export async function userNetworkReady(suite: string): Promise<boolean> {
  const caps = await probeSandbox();
  if (caps.userNetwork) return true;
  const reason = caps.tools.slirp4netns ? '/dev/net/tun cannot be opened by this user' : 'slirp4netns missing (Debian package slirp4netns)';
  if (process.env.CI) throw new Error(`${suite}: ${reason}`);
  console.warn(`skipping ${suite}: ${reason}`);
  return false;
}

/** An IPv4 address of this machine that is not loopback (what a sandbox reaches through its gateway). */
export function hostAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

/** An HTTP server answering `body` on `host` (port chosen by the kernel). */
export async function httpServer(host: string, body: string): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer((_req, res) => res.end(body));
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return { server, port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** Polls `check` until it holds or `ms` pass; returns its last answer. */
export async function eventually(check: () => Promise<boolean> | boolean, ms = 5000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

/** The real program (`node --import tsx src/cli/main.ts ARGS`), as a child process with its output gathered. */
export function layerkit(args: string[], options: { prefix?: string[]; env?: NodeJS.ProcessEnv } = {}): { child: ChildProcess; output: () => string; done: Promise<number | null> } {
  const argv = [...(options.prefix ?? []), process.execPath, '--import', 'tsx', join(repo, 'src/cli/main.ts'), ...args];
  const child = spawn(argv[0]!, argv.slice(1), { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, output: () => out, done };
}
