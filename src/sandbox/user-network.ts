/**
 * The user-mode network of a sandbox: slirp4netns attached to the
 * namespace's init once it has reported its pid, a tap device with
 * slirp4netns's fixed addressing (10.0.2.100/24, gateway 10.0.2.2, DNS
 * 10.0.2.3), the host's loopback *not* reachable through the gateway
 * (`--disable-host-loopback`), and ports published through its API socket
 * (`add_hostfwd`).
 *
 * The setup script waits on a FIFO in the step directory (`go`) until the
 * stack is up: the caller keeps the FIFO open read-write from before the
 * start (so a line written early is never lost) and writes `1` once
 * slirp4netns is ready, `0` when it failed. slirp4netns runs with a
 * parent-death signal, so it never outlives its starter; it is stopped when
 * the namespace ends.
 * @module
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { SandboxCapabilities } from './probe.js';

/**
 * A published port, `-p [IP:]HOST:CONTAINER[/PROTO]`.
 *
 * @example
 * ```ts
 * const port: PublishedPort = { hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' };
 * ```
 */
export interface PublishedPort {
  /** The host address to listen on (default all: `0.0.0.0`). */
  hostIp?: string;
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
}

/** slirp4netns's fixed addressing inside the namespace (its defaults). */
export const USER_NETWORK = { address: '10.0.2.100', gateway: '10.0.2.2', dns: '10.0.2.3', mtu: 65520 } as const;

/** The FIFO the setup script waits on (in the step directory). */
export const GO_FIFO = 'go';

/** Makes the step's FIFO (`mknod go p`) and opens it read-write, which never blocks. */
export async function openGoFifo(caps: SandboxCapabilities, stepDir: string): Promise<number> {
  const path = join(stepDir, GO_FIFO);
  await new Promise<void>((resolve, reject) => execFile(caps.tools.mknod!, [path, 'p'], (err) => (err ? reject(err) : resolve())));
  return openSync(path, 'r+');
}

/** A running slirp4netns. */
export interface UserNetwork {
  /** Resolves once the tap device is configured; rejects with slirp4netns's message. */
  ready: Promise<void>;
  /** Publishes ports through the API socket. */
  publish(ports: readonly PublishedPort[]): Promise<void>;
  /** Stops slirp4netns. */
  stop(): void;
}

/**
 * Starts slirp4netns for the namespace of `pid` (a host pid), its API
 * socket in `stepDir` when ports are to be published.
 */
export function startUserNetwork(caps: SandboxCapabilities, pid: number, stepDir: string, options: { api?: boolean } = {}): UserNetwork {
  const argv = [
    caps.tools.setpriv!, '--pdeathsig', 'KILL', '--',
    caps.tools.slirp4netns!, '--configure', `--mtu=${USER_NETWORK.mtu}`, '--disable-host-loopback', '--ready-fd=3',
    ...(options.api ? ['--api-socket', 'slirp.sock'] : []),
    ...(caps.rootless ? [`--userns-path=/proc/${pid}/ns/user`] : []),
    String(pid), 'tap0',
  ];
  // Relative socket path: a unix socket's path is limited to 108 bytes, the step directory may be longer.
  const child: ChildProcess = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe', 'pipe'], cwd: stepDir, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' } });
  let log = '';
  child.stderr!.on('data', (chunk: Buffer) => (log = (log + chunk.toString('utf8')).slice(-2048)));
  const ready = new Promise<void>((resolve, reject) => {
    const readyFd = child.stdio[3] as NodeJS.ReadableStream;
    readyFd.on('data', () => resolve());
    readyFd.on('error', () => {});
    child.on('error', reject);
    child.on('close', (code) => reject(new Error(`slirp4netns exited (${code ?? 'signal'}): ${log.trim().split('\n').pop() ?? ''}`)));
  });
  ready.catch(() => {});
  return {
    ready,
    publish: (ports) => publish(child, ports),
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** Sends `add_hostfwd` for each port; rejects with slirp4netns's error (a port in use…). */
export async function publish(child: ChildProcess | number, ports: readonly PublishedPort[]): Promise<void> {
  const pid = typeof child === 'number' ? child : child.pid;
  for (const port of ports) {
    const request = {
      execute: 'add_hostfwd',
      arguments: { proto: port.protocol, host_addr: port.hostIp ?? '0.0.0.0', host_port: port.hostPort, guest_port: port.containerPort },
    };
    const reply = await apiCall(`/proc/${pid}/cwd/slirp.sock`, JSON.stringify(request));
    const parsed = JSON.parse(reply) as { error?: { desc?: string } };
    if (parsed.error) throw new Error(`cannot publish ${port.hostIp ?? '0.0.0.0'}:${port.hostPort}->${port.containerPort}/${port.protocol}: ${parsed.error.desc ?? reply}`);
  }
}

async function apiCall(socket: string, request: string): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await new Promise<string>((resolve, reject) => {
        const conn = connect(socket);
        let reply = '';
        conn.setEncoding('utf8');
        conn.on('connect', () => conn.end(request));
        conn.on('data', (text: string) => (reply += text));
        conn.on('end', () => resolve(reply));
        conn.on('error', reject);
      });
    } catch (err) {
      // The socket appears once slirp4netns is up; it is ready well before the command starts.
      if (attempt >= 50) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** Writes the go line into the step's FIFO and closes the caller's end. */
export function release(fd: number, ok: boolean): void {
  try {
    writeSync(fd, ok ? '1\n' : '0\n');
  } catch {
    // The namespace is gone.
  }
}

/** Closes the caller's end of the FIFO. */
export function closeFifo(fd: number | undefined): void {
  if (fd === undefined) return;
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}
