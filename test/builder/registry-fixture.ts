// Helpers of the builder's registry tests (not a test file itself): a real
// registry (Debian's docker-registry, the CNCF Distribution registry) on a
// loopback port with a temporary storage directory, and a counting proxy.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BINARY = '/usr/bin/docker-registry';

/** True when the registry binary runs; missing it is a failure under CI and a printed skip otherwise. */
export function hasRegistry(): boolean {
  const r = spawnSync(BINARY, ['--version'], { encoding: 'utf8' });
  const ok = !r.error && r.status === 0;
  if (!ok && process.env.CI) throw new Error('docker-registry missing (required under CI)');
  if (!ok) console.warn('skipping the registry build tests: docker-registry (Debian package docker-registry) not found');
  return ok;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** A running registry. */
export interface TestRegistry {
  /** `127.0.0.1:PORT`. */
  host: string;
  stop(): Promise<void>;
}

/**
 * Starts a plain-HTTP registry on a free loopback port; its storage is
 * removed by stop(). With `htpasswd`, it asks for Basic credentials.
 */
export async function startRegistry(options: { htpasswd?: { username: string; password: string } } = {}): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'layerkit-registry-'));
  let child: ChildProcess | undefined;
  try {
    const auth: string[] = [];
    if (options.htpasswd) {
      const { hashSync } = await import('bcryptjs');
      await writeFile(join(dir, 'htpasswd'), `${options.htpasswd.username}:${hashSync(options.htpasswd.password, 5)}\n`);
      auth.push('auth:', '  htpasswd:', '    realm: layerkit-test', `    path: ${join(dir, 'htpasswd')}`);
    }
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const config = [
        ...auth,
        'version: 0.1',
        'log:',
        '  level: error',
        '  accesslog:',
        '    disabled: true',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${join(dir, 'data')}`,
        '  delete:',
        '    enabled: true',
        'http:',
        `  addr: 127.0.0.1:${port}`,
        '',
      ].join('\n');
      await writeFile(join(dir, 'config.yml'), config);
      child = spawn(BINARY, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      const host = `127.0.0.1:${port}`;
      if (await ready(host, child)) {
        const running = child;
        return {
          host,
          async stop() {
            await stopChild(running);
            await rm(dir, { recursive: true, force: true });
          },
        };
      }
      await stopChild(child);
      if (attempt === 2) throw new Error(`docker-registry did not start: ${stderr}`);
    }
    throw new Error('docker-registry did not start');
  } catch (err) {
    if (child) await stopChild(child);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function ready(host: string, child: ChildProcess): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) return false;
    const ok = await fetch(`http://${host}/v2/`).then((r) => r.status === 200 || r.status === 401, () => false);
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

/** One request the proxy forwarded, with the bytes of its response body. */
export interface ProxiedRequest {
  method: string;
  path: string;
  status: number;
  bytes: number;
}

/** A proxy in front of a registry that records every request (to count blob downloads). */
export interface CountingProxy {
  host: string;
  requests: ProxiedRequest[];
  /** Bytes of successful GETs of the blobs named. */
  blobBytes(digests: Iterable<string>): number;
  stop(): Promise<void>;
}

/** Starts a plain forwarding proxy to `target` (`HOST:PORT`) on a free loopback port. */
export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const [targetHost, targetPort] = target.split(':') as [string, string];
  const requests: ProxiedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const upstream = request(
      { host: targetHost, port: Number(targetPort), method: req.method, path: req.url, headers: req.headers },
      (up) => {
        const record: ProxiedRequest = { method: req.method ?? 'GET', path: req.url ?? '', status: up.statusCode ?? 0, bytes: 0 };
        requests.push(record);
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.on('data', (chunk: Buffer) => (record.bytes += chunk.byteLength));
        up.pipe(res);
      },
    );
    upstream.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    host: `127.0.0.1:${port}`,
    requests,
    blobBytes(digests) {
      const wanted = new Set(digests);
      return requests
        .filter((r) => r.method === 'GET' && r.status >= 200 && r.status < 300)
        .filter((r) => {
          const m = /\/blobs\/(sha256:[a-f0-9]{64})$/.exec(r.path.split('?')[0]!);
          return m !== null && wanted.has(m[1]!);
        })
        .reduce((n, r) => n + r.bytes, 0);
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
