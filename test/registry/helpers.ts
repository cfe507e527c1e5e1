// Shared helpers of the registry tests (not a test file itself): a real CNCF Distribution registry
// (Debian's docker-registry) on a loopback port, plain, with TLS + htpasswd, or with bearer tokens
// from a small token service; openssl-made certificates; fault-injecting proxies.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, createSign, randomBytes, X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import bcrypt from 'bcryptjs';
import { afterAll } from 'vitest';

const exec = promisify(execFile);

/** True when `name` is on PATH; a missing tool is an error under CI=true and a printed skip otherwise. */
export async function hasTool(name: string, why: string): Promise<boolean> {
  try {
    await exec('sh', ['-c', `command -v ${name}`]);
    return true;
  } catch {
    if (process.env.CI === 'true') throw new Error(`${name} is required under CI=true but is not installed (${why})`);
    console.warn(`skipping ${why}: ${name} is not installed`);
    return false;
  }
}

/**
 * True when docker-registry runs (synchronous, for `describe.runIf`); a
 * missing one is an error under CI=true and a printed skip otherwise.
 */
export function hasRegistry(): boolean {
  const r = spawnSync('docker-registry', ['--version'], { encoding: 'utf8' });
  const ok = !r.error && r.status === 0;
  if (!ok && process.env.CI === 'true') throw new Error('docker-registry is required under CI=true but is not installed (registry tests)');
  if (!ok) console.warn('skipping the registry tests: docker-registry (Debian package docker-registry) is not installed');
  return ok;
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `layerkit-reg-${prefix}-`));
}

/** A {@link tempDir} maker whose directories are removed after the calling test file. */
export function scopedTempDirs(): (prefix: string) => Promise<string> {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });
  return async (prefix) => {
    const d = await tempDir(prefix);
    dirs.push(d);
    return d;
  };
}

/** Certificates made with openssl: a CA, a server certificate for localhost/127.0.0.1 signed by it. */
export interface TestCerts {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
}

export async function makeCerts(dir: string): Promise<TestCerts> {
  await mkdir(dir, { recursive: true });
  const p = (n: string) => join(dir, n);
  await exec('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('ca.key'), '-out', p('ca.crt'), '-subj', '/CN=layerkit test CA', '-days', '2',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await exec('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', '/CN=localhost']);
  await writeFile(p('ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  await exec('openssl', ['x509', '-req', '-in', p('server.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p('server.crt'), '-days', '2', '-extfile', p('ext.cnf')]);
  return { dir, caCert: p('ca.crt'), serverCert: p('server.crt'), serverKey: p('server.key') };
}

/** A signing key and a self-signed certificate for it (the registry's rootcertbundle). */
export async function makeSigningKey(dir: string): Promise<{ key: string; cert: string; certPath: string }> {
  await mkdir(dir, { recursive: true });
  await exec('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'token.key'), '-out', join(dir, 'token.crt'), '-subj', '/CN=layerkit test token issuer', '-days', '2']);
  return { key: await readFile(join(dir, 'token.key'), 'utf8'), cert: await readFile(join(dir, 'token.crt'), 'utf8'), certPath: join(dir, 'token.crt') };
}

export interface RegistryConfig {
  tls?: { cert: string; key: string };
  htpasswd?: Record<string, string>;
  token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
}

/** A docker-registry process on 127.0.0.1. */
export interface RunningRegistry {
  /** `127.0.0.1:PORT`: the registry domain of references. */
  host: string;
  port: number;
  storage: string;
  /** Kills with SIGTERM (or SIGKILL) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts again on the same port and storage. */
  restart(): Promise<void>;
}

async function waitReady(port: number, tls: boolean, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited (${child.exitCode}): ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/v2/', method: 'GET', timeout: 1000 }, (res) => {
        res.resume();
        resolve(true);
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
      req.end();
    });
    // A TLS server answers a plain request with 400, which is an answer all the same.
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`docker-registry did not come up on ${port} (tls=${tls}): ${log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts the Distribution registry with a temp storage dir (removed by stop unless `keepStorage`). */
export async function startRegistry(config: RegistryConfig = {}): Promise<RunningRegistry> {
  const dir = await tempDir('registry');
  const storage = join(dir, 'storage');
  await mkdir(storage);
  const port = await freePort();
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storage}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
  ];
  if (config.tls) lines.push('  tls:', `    certificate: ${config.tls.cert}`, `    key: ${config.tls.key}`);
  if (config.htpasswd) {
    const file = join(dir, 'htpasswd');
    await writeFile(file, Object.entries(config.htpasswd).map(([u, pw]) => `${u}:${bcrypt.hashSync(pw, 5)}\n`).join(''));
    lines.push('auth:', '  htpasswd:', '    realm: layerkit-test', `    path: ${file}`);
  }
  if (config.token) {
    lines.push('auth:', '  token:', `    realm: ${config.token.realm}`, `    service: ${config.token.service}`, `    issuer: ${config.token.issuer}`, `    rootcertbundle: ${config.token.rootCertBundle}`);
  }
  const file = join(dir, 'config.yml');
  await writeFile(file, `${lines.join('\n')}\n`);
  let child: ChildProcess;
  let log = '';
  const launch = async () => {
    log = '';
    child = spawn('docker-registry', ['serve', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    await waitReady(port, !!config.tls, child, () => log);
  };
  try {
    await launch();
  } catch (err) {
    child!.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const stopChild = async (signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(signal);
    await exited;
  };
  return {
    host: `127.0.0.1:${port}`,
    port,
    storage,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      await stopChild(signal);
      if (signal === 'SIGTERM') await rm(dir, { recursive: true, force: true });
    },
    async restart() {
      await stopChild('SIGKILL');
      await launch();
    },
  };
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/** A token service for the registry's `auth.token`: RS256 JWTs with an x5c chain the registry trusts. */
export interface TokenService {
  realm: string;
  service: string;
  issuer: string;
  /** Every request: method, the scopes asked for, the user (or `<refresh>` / `<anonymous>`). */
  requests: Array<{ method: string; scopes: string[]; user: string }>;
  stop(): Promise<void>;
}

export async function startTokenService(options: {
  key: string;
  cert: string;
  users: Record<string, string>;
  /** Refresh tokens accepted by the OAuth2 POST, and the user each stands for. */
  refreshTokens?: Record<string, string>;
  /** Whether anonymous requests get pull access (default false: anonymous gets no access). */
  anonymousPull?: boolean;
}): Promise<TokenService> {
  const service = 'layerkit-test-registry';
  const issuer = 'layerkit-test-issuer';
  const der = new X509Certificate(options.cert).raw;
  const requests: TokenService['requests'] = [];
  const sign = (user: string, scopes: string[]) => {
    const access = scopes
      .map((s) => /^repository:(.+):([a-z,*]+)$/.exec(s))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ type: 'repository', name: m[1]!, actions: user === '<anonymous>' ? (options.anonymousPull ? m[2]!.split(',').filter((a) => a === 'pull') : []) : m[2]!.split(',') }));
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', x5c: [der.toString('base64')] };
    const claims = { iss: issuer, sub: user, aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
    const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const signature = createSign('RSA-SHA256').update(input).sign(options.key);
    return `${input}.${base64url(signature)}`;
  };
  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'POST') {
      let text = '';
      for await (const c of req) text += String(c);
      const form = new URLSearchParams(text);
      const scopes = (form.get('scope') ?? '').split(' ').filter((s) => s !== '');
      const user = options.refreshTokens?.[form.get('refresh_token') ?? ''];
      requests.push({ method: 'POST', scopes, user: user ?? '<bad refresh token>' });
      if (form.get('grant_type') !== 'refresh_token' || !user) return reply(401, { error: 'invalid_grant' });
      return reply(200, { access_token: sign(user, scopes), expires_in: 300, scope: scopes.join(' ') });
    }
    const scopes = url.searchParams.getAll('scope');
    const authHeader = req.headers.authorization;
    let user = '<anonymous>';
    if (authHeader?.startsWith('Basic ')) {
      const decoded = Buffer.from(authHeader.slice(6), 'base64').toString();
      const colon = decoded.indexOf(':');
      const name = decoded.slice(0, colon);
      if (options.users[name] === undefined || options.users[name] !== decoded.slice(colon + 1)) {
        requests.push({ method: 'GET', scopes, user: '<bad password>' });
        return reply(401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] });
      }
      user = name;
    }
    requests.push({ method: 'GET', scopes, user });
    reply(200, { token: sign(user, scopes), expires_in: 300, issued_at: new Date().toISOString() });
  };
  const server = createServer((req, res) => void handler(req, res).catch(() => res.destroy()));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    requests,
    stop: () => closeServer(server),
  };
}

export function closeServer(server: Server): Promise<void> {
  server.closeAllConnections?.();
  return new Promise((r) => server.close(() => r()));
}

/** What a proxy does to one request: pass it on, answer it itself, or tamper with the answer. */
export type ProxyAction =
  | { kind: 'pass' }
  | { kind: 'respond'; status: number; headers?: Record<string, string>; body?: string }
  | { kind: 'hang' }
  | { kind: 'corrupt-body'; at: number }
  | { kind: 'cut-body'; after: number };

/** A plain-HTTP proxy on 127.0.0.1 in front of a registry, deciding per request what to do. */
export interface FaultProxy {
  host: string;
  /** Every request, with the status and body bytes of the registry's answer when it was passed on. */
  seen: Array<{ method: string; path: string; range?: string; status?: number; bytes: number }>;
  stop(): Promise<void>;
}

export async function startProxy(target: { port: number }, decide: (req: IncomingMessage, index: number) => ProxyAction): Promise<FaultProxy> {
  const seen: FaultProxy['seen'] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const index = seen.length;
    const record: FaultProxy['seen'][number] = { method: req.method ?? '', path: req.url ?? '', ...(req.headers.range ? { range: req.headers.range } : {}), bytes: 0 };
    seen.push(record);
    const action = decide(req, index);
    if (action.kind === 'hang') return; // accept, read nothing back, never answer
    if (action.kind === 'respond') {
      res.writeHead(action.status, action.headers ?? {});
      res.end(action.body ?? '');
      return;
    }
    const upstream = httpRequest({ host: '127.0.0.1', port: target.port, path: req.url, method: req.method, headers: req.headers }, (up) => {
      const headers = { ...up.headers };
      // Location headers point at the registry itself; keep clients talking through the proxy.
      if (typeof headers.location === 'string') headers.location = headers.location.replace(`127.0.0.1:${target.port}`, req.headers.host ?? '');
      res.writeHead(up.statusCode ?? 502, headers);
      record.status = up.statusCode ?? 502;
      let sent = 0;
      up.on('data', (chunk: Buffer) => {
        let out = chunk;
        if (action.kind === 'corrupt-body' && sent <= action.at && action.at < sent + chunk.length) {
          out = Buffer.from(chunk);
          out[action.at - sent] = (out[action.at - sent]! + 1) & 0xff;
        }
        if (action.kind === 'cut-body' && sent + chunk.length > action.after) {
          res.write(out.subarray(0, Math.max(0, action.after - sent)));
          up.destroy();
          res.socket?.destroy();
          return;
        }
        sent += chunk.length;
        record.bytes += chunk.length;
        res.write(out);
      });
      up.on('end', () => res.end());
      up.on('error', () => res.destroy());
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    host: `127.0.0.1:${port}`,
    seen,
    async stop() {
      for (const s of sockets) s.destroy();
      await closeServer(server);
    },
  };
}

/** sha256 of bytes, as a digest string. */
export function sha256Hex(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Body bytes of the successful GETs, through `proxy`, of the blobs named: what a client downloaded of them. */
export function blobBytes(proxy: FaultProxy, digests: Iterable<string>): number {
  const wanted = new Set(digests);
  return proxy.seen
    .filter((r) => r.method === 'GET' && r.status !== undefined && r.status >= 200 && r.status < 300)
    .filter((r) => {
      const m = /\/blobs\/(sha256:[a-f0-9]{64})$/.exec(r.path.split('?')[0]!);
      return m !== null && wanted.has(m[1]!);
    })
    .reduce((n, r) => n + r.bytes, 0);
}
