/**
 * `layerkit pull`, `push`, `login` and `logout` against real registries: in
 * process through `main`, and once as the real program (a child process with
 * its own environment and standard input).
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import { ImageStore } from '../../src/image/store/store.js';
import { RegistryClient } from '../../src/registry/index.js';
import { randomImage } from './fixtures.js';
import { hasTool, makeCerts, startRegistry, type RunningRegistry, scopedTempDirs } from './helpers.js';

const root = join(import.meta.dirname, '../..');
const ready = (await hasTool('docker-registry', 'the registry CLI tests (apt-get install docker-registry)')) && (await hasTool('openssl', 'the registry CLI TLS tests (apt-get install openssl)'));

const dir = scopedTempDirs();

async function cli(argv: string[], stdin = ''): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    readText: async (p) => (p === '-' ? stdin : readFile(p, 'utf8')),
  };
  const status = await main(argv, io);
  return { status, stdout, stderr };
}

const savedEnv = { DOCKER_CONFIG: process.env.DOCKER_CONFIG, LAYERKIT_CERTS_DIRS: process.env.LAYERKIT_CERTS_DIRS };
afterEach(() => {
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

describe.runIf(ready)('layerkit pull / push', () => {
  let reg: RunningRegistry;
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('push prints what docker push prints; pull downloads, then finds everything present', async () => {
    const store = await dir('store');
    const image = randomImage(2);
    await new ImageStore(store).putImage(image, 'app:1');
    const pushed = await cli(['push', '--store', store, 'app:1', `${reg.host}/cli/app:1`]);
    expect(pushed.stderr).toBe('');
    expect(pushed.status).toBe(0);
    expect(pushed.stdout).toContain(`The push refers to repository [${reg.host}/cli/app]`);
    expect(pushed.stdout).toContain(`1: digest: ${await image.digest()} size: ${(await image.rawManifest()).byteLength}`);
    expect(pushed.stdout.match(/: Pushed$/gm)?.length).toBe(3);

    const other = await dir('store');
    const first = await cli(['pull', '--store', other, `${reg.host}/cli/app:1`]);
    expect(first.status).toBe(0);
    expect(first.stdout).toContain(`1: Pulling from ${reg.host}/cli/app`);
    expect(first.stdout.match(/: Pull complete$/gm)?.length).toBe(2);
    expect(first.stdout).toContain(`Digest: ${await image.digest()}`);
    expect(first.stdout).toContain(`Status: Downloaded newer image for ${reg.host}/cli/app:1`);
    expect(first.stdout.trimEnd().split('\n').at(-1)).toBe(`${reg.host}/cli/app:1`);
    const second = await cli(['pull', '--store', other, `${reg.host}/cli/app:1`]);
    expect(second.stdout.match(/: Already exists$/gm)?.length).toBe(2);
    expect(second.stdout).toContain('Status: Image is up to date');
    const quiet = await cli(['pull', '-q', '--store', other, `${reg.host}/cli/app:1`]);
    expect(quiet.stdout).toBe(`${reg.host}/cli/app:1\n`);
    const inspect = await cli(['inspect', '--store', other, `${reg.host}/cli/app:1`]);
    expect(inspect.stdout).toContain(`${reg.host}/cli/app@${await image.digest()}`);
  });

  it('push NAME pushes to the registry NAME names; a second push finds every layer there', async () => {
    const store = await dir('store');
    const image = randomImage(1);
    await new ImageStore(store).putImage(image, `${reg.host}/cli/self:2`);
    expect((await cli(['push', '--store', store, `${reg.host}/cli/self:2`])).status).toBe(0);
    const again = await cli(['push', '--store', store, `${reg.host}/cli/self:2`]);
    expect(again.stdout).toContain(': Layer already exists');
    expect(again.stdout).toContain(`2: digest: ${await image.digest()}`);
  });

  it('pull --platform picks from an index', async () => {
    const arm = randomImage(1, 4, { os: 'linux', architecture: 'arm64' });
    await new RegistryClient().pushIndex(
      [
        { image: randomImage(1), platform: { os: 'linux', architecture: 'amd64' } },
        { image: arm, platform: { os: 'linux', architecture: 'arm64' } },
      ],
      `${reg.host}/cli/multi:1`,
    );
    const store = await dir('store');
    const out = await cli(['pull', '--platform', 'linux/arm64', '--store', store, `${reg.host}/cli/multi:1`]);
    expect(out.status).toBe(0);
    expect(out.stdout).toContain('Platform: linux/arm64');
    expect(await (await new ImageStore(store).getImage(`${reg.host}/cli/multi:1`)).digest()).toBe(await arm.digest());
    const missing = await cli(['pull', '--platform', 'linux/riscv64', '--store', store, `${reg.host}/cli/multi:1`]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/^layerkit pull: .*no image for linux\/riscv64/);
  });

  it('bad usage exits 2 with the usage text', async () => {
    expect((await cli(['pull'])).status).toBe(2);
    expect((await cli(['push', 'a', 'b', 'c'])).status).toBe(2);
    const login = await cli(['login', reg.host]);
    expect(login.status).toBe(2);
    expect(login.stderr).toContain('Usage: layerkit login');
  });
});

describe.runIf(ready)('layerkit login / logout with TLS and htpasswd', () => {
  let reg: RunningRegistry;
  let config: string;
  beforeAll(async () => {
    const certs = await makeCerts(await dir('certs'));
    reg = await startRegistry({ tls: { cert: certs.serverCert, key: certs.serverKey }, htpasswd: { dave: 'pw-dave' } });
    const certsDir = await dir('certs.d');
    await mkdir(join(certsDir, reg.host));
    await writeFile(join(certsDir, reg.host, 'ca.crt'), await readFile(certs.caCert));
    process.env.LAYERKIT_CERTS_DIRS = certsDir;
    savedEnv.LAYERKIT_CERTS_DIRS = certsDir;
    config = await dir('docker-config');
  });
  afterAll(async () => {
    await reg?.stop();
    savedEnv.LAYERKIT_CERTS_DIRS = undefined;
  });

  it('without credentials, pull fails naming the registry and `layerkit login`', async () => {
    process.env.DOCKER_CONFIG = config;
    const out = await cli(['pull', '--store', await dir('store'), `${reg.host}/locked/app:1`]);
    expect(out.status).toBe(1);
    expect(out.stderr).toContain(`layerkit login ${reg.host}`);
    expect(out.stderr.split('\n').filter((l) => l !== '').length).toBe(1);
  });

  it('login --password-stdin saves to $DOCKER_CONFIG/config.json, push works, logout removes it', async () => {
    process.env.DOCKER_CONFIG = config;
    const bad = await cli(['login', '-u', 'dave', '--password-stdin', reg.host], 'wrong\n');
    expect(bad.status).toBe(1);
    const ok = await cli(['login', '-u', 'dave', '--password-stdin', reg.host], 'pw-dave\n');
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toContain('Login Succeeded');
    const saved = JSON.parse(await readFile(join(config, 'config.json'), 'utf8')) as { auths: Record<string, { auth: string }> };
    expect(Buffer.from(saved.auths[reg.host]!.auth, 'base64').toString()).toBe('dave:pw-dave');
    const store = await dir('store');
    await new ImageStore(store).putImage(randomImage(1), 'locked:1');
    expect((await cli(['push', '--store', store, 'locked:1', `${reg.host}/locked/app:1`])).status).toBe(0);
    const logout = await cli(['logout', reg.host]);
    expect(logout.stdout).toBe(`Removing login credentials for ${reg.host}\n`);
    expect((await cli(['logout', reg.host])).stdout).toBe(`Not logged in to ${reg.host}\n`);
  });

  it('the real program: login from standard input, then pull -q, with its own environment', async () => {
    const own = await dir('docker-config');
    const env = { ...process.env, DOCKER_CONFIG: own, LAYERKIT_CERTS_DIRS: process.env.LAYERKIT_CERTS_DIRS };
    const run = (args: string[], input?: string) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        const child = execFile(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), ...args], { env, cwd: root }, (err, stdout, stderr) =>
          resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
        child.stdin?.end(input ?? '');
      });
    const login = await run(['login', '-u', 'dave', '--password-stdin', reg.host], 'pw-dave\n');
    expect(login.stderr).toBe('');
    expect(login.code).toBe(0);
    const store = await dir('store');
    const pulled = await run(['pull', '-q', '--store', store, `${reg.host}/locked/app:1`]);
    expect(pulled.stderr).toBe('');
    expect(pulled.stdout).toBe(`${reg.host}/locked/app:1\n`);
  });
});
