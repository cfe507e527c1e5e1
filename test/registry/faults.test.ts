/**
 * Faults between layerkit and a real registry: a registry killed mid-push and
 * mid-pull, a proxy that corrupts a blob byte, answers 429 with Retry-After,
 * stops answering, or cuts a download once; and plain HTTP refused for hosts
 * that are neither loopback nor named insecure. After each fault, the store and
 * the registry are checked: nothing partial, nothing corrupt.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageStore } from '../../src/image/store/store.js';
import { RegistryClient, RegistryError, pull, type RegistryEvent } from '../../src/registry/index.js';
import { validateImage } from '../../src/testing/image.js';
import { randomImage } from './fixtures.js';
import { closeServer, hasTool, startProxy, startRegistry, type FaultProxy, type ProxyAction, type RunningRegistry, scopedTempDirs } from './helpers.js';

const registryTool = await hasTool('docker-registry', 'the registry fault tests (apt-get install docker-registry)');

const dir = scopedTempDirs();

/** Every blob file in the store hashes to its name, and no temporary file is left. */
async function expectStoreSound(store: ImageStore): Promise<string[]> {
  const names = await readdir(join(store.root, 'blobs', 'sha256')).catch(() => [] as string[]);
  for (const hex of names) {
    const actual = createHash('sha256').update(await readFile(join(store.root, 'blobs', 'sha256', hex))).digest('hex');
    expect(actual).toBe(hex);
  }
  expect(await readdir(join(store.root, 'tmp')).catch(() => [] as string[])).toEqual([]);
  return names.map((h) => `sha256:${h}`);
}

async function failure(p: Promise<unknown>): Promise<RegistryError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RegistryError);
  return err as RegistryError;
}

const isBlobGet = (method: string | undefined, url: string | undefined) => method === 'GET' && /\/blobs\/sha256:/.test(url ?? '');

describe.runIf(registryTool)('faults', () => {
  let reg: RunningRegistry;
  const proxies: FaultProxy[] = [];
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(async () => {
    for (const p of proxies) await p.stop();
    await reg?.stop();
  });
  const proxy = async (decide: Parameters<typeof startProxy>[1]) => {
    const p = await startProxy(reg, decide);
    proxies.push(p);
    return p;
  };

  it('a blob served with one wrong byte is rejected and nothing of it is stored', async () => {
    const image = randomImage(2, 64);
    await new RegistryClient().push(image, `${reg.host}/fault/corrupt:1`);
    const layerDigests = (await image.manifest()).layers.map((l) => l.digest);
    const p = await proxy((req) => (isBlobGet(req.method, req.url) && req.url!.includes(layerDigests[1]!) ? { kind: 'corrupt-body', at: 100 } : { kind: 'pass' }));
    const store = new ImageStore(await dir('store'));
    const err = await failure(pull(`${p.host}/fault/corrupt:1`, store, { retries: 0 }));
    expect(err.code).toBe('DIGEST_MISMATCH');
    expect(err.message).toContain(layerDigests[1]);
    expect(err.data.registry).toBe(p.host);
    expect(await store.list()).toEqual([]);
    // The store was empty and is empty again: the good layer written before the bad one was removed.
    expect(await expectStoreSound(store)).toEqual([]);
  });

  it('429 with Retry-After: waits as asked, then succeeds', async () => {
    const image = randomImage(1);
    await new RegistryClient().push(image, `${reg.host}/fault/busy:1`);
    let refused = 0;
    const p = await proxy((req) => {
      if (req.method === 'GET' && req.url?.includes('/manifests/') && refused === 0) {
        refused++;
        return { kind: 'respond', status: 429, headers: { 'retry-after': '1', 'content-type': 'application/json' }, body: '{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}' };
      }
      return { kind: 'pass' };
    });
    const events: RegistryEvent[] = [];
    const store = new ImageStore(await dir('store'));
    const started = Date.now();
    const result = await pull(`${p.host}/fault/busy:1`, store, { onEvent: (e) => events.push(e) });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(result.manifestDigest).toBe(await image.digest());
    expect(events.filter((e) => e.type === 'retry')).toMatchObject([{ type: 'retry', delayMs: 1000, reason: 'status 429' }]);
  });

  it('429 every time ends in TOO_MANY_REQUESTS after the retries', async () => {
    const p = await proxy((req) => (req.url === '/v2/' ? { kind: 'pass' } : { kind: 'respond', status: 429, headers: { 'retry-after': '0' } }));
    const err = await failure(new RegistryClient({ retries: 2 }).getManifest(`${p.host}/fault/busy:1`));
    expect(err.code).toBe('TOO_MANY_REQUESTS');
    expect(err.data.attempts).toBe(3);
    expect(p.seen.filter((s) => s.path.includes('/manifests/')).length).toBe(3);
  });

  it('a registry that stops answering is a TIMEOUT naming it, within the configured time', async () => {
    const p = await proxy((req) => (req.url === '/v2/' ? { kind: 'pass' } : { kind: 'hang' }));
    const started = Date.now();
    const err = await failure(new RegistryClient({ timeoutMs: 500, retries: 0 }).getManifest(`${p.host}/fault/hang:1`));
    const elapsed = Date.now() - started;
    expect(err.code).toBe('TIMEOUT');
    expect(err.message).toContain(p.host);
    expect(err.message).toContain('500 ms');
    expect(elapsed).toBeLessThan(3000);
    // With one retry it waits twice, and says how many attempts it made.
    const again = await failure(new RegistryClient({ timeoutMs: 300, retries: 1 }).getManifest(`${p.host}/fault/hang:1`));
    expect(again.code).toBe('TIMEOUT');
    expect(again.data.attempts).toBe(2);
  });

  it('a registry whose name does not resolve fails at once, without retries', async () => {
    // .invalid never resolves (RFC 6761): waiting would not change the answer.
    const events: RegistryEvent[] = [];
    const err = await failure(new RegistryClient({ retries: 4, onEvent: (e) => events.push(e) }).getManifest('registry.invalid/app:1'));
    expect(err.code).toBe('UNREACHABLE');
    expect(err.message).toContain('registry.invalid');
    expect(events.filter((e) => e.type === 'retry')).toEqual([]);
  });

  it('an upload the registry stops reading is a TIMEOUT too', async () => {
    const p = await proxy((req) => (req.method === 'PUT' && req.url?.includes('/blobs/uploads/') ? { kind: 'hang' } : { kind: 'pass' }));
    const err = await failure(new RegistryClient({ timeoutMs: 700, retries: 0 }).push(randomImage(1, 4096), `${p.host}/fault/stall:1`));
    expect(err.code).toBe('TIMEOUT');
    expect(err.message).toMatch(new RegExp(`^${p.host} stopped answering: nothing for 700 ms during upload sha256:`));
  });

  it('a download cut once is resumed with a Range request, and the pull succeeds', async () => {
    const image = randomImage(1, 512);
    await new RegistryClient().push(image, `${reg.host}/fault/cut:1`);
    const layer = (await image.manifest()).layers[0]!;
    let cut = false;
    const p = await proxy((req) => {
      if (!cut && isBlobGet(req.method, req.url) && req.url!.includes(layer.digest)) {
        cut = true;
        return { kind: 'cut-body', after: 100_000 };
      }
      return { kind: 'pass' };
    });
    const store = new ImageStore(await dir('store'));
    const result = await pull(`${p.host}/fault/cut:1`, store);
    expect(result.manifestDigest).toBe(await image.digest());
    const blobRequests = p.seen.filter((s) => isBlobGet(s.method, s.path) && s.path.includes(layer.digest));
    expect(blobRequests.length).toBe(2);
    expect(blobRequests[1]!.range).toMatch(/^bytes=\d+-$/);
    expect(Number(/bytes=(\d+)-/.exec(blobRequests[1]!.range!)![1])).toBeGreaterThan(0);
    expect((await validateImage(await store.getImage(`${p.host}/fault/cut:1`))).problems).toEqual([]);
    await expectStoreSound(store);
  });

  it('503 twice, then an answer: two retries and success', async () => {
    const image = randomImage(1);
    await new RegistryClient().push(image, `${reg.host}/fault/flaky:1`);
    let failures = 0;
    const p = await proxy((req) => (req.url?.includes('/manifests/') && failures++ < 2 ? { kind: 'respond', status: 503 } : { kind: 'pass' }));
    const events: RegistryEvent[] = [];
    const got = await new RegistryClient({ onEvent: (e) => events.push(e) }).getManifest(`${p.host}/fault/flaky:1`);
    expect(got.digest).toBe(await image.digest());
    expect(events.filter((e) => e.type === 'retry').map((e) => (e as { reason: string }).reason)).toEqual(['status 503', 'status 503']);
  });

  it('a manifest fetched by digest whose bytes do not hash to it is DIGEST_MISMATCH', async () => {
    const image = randomImage(1);
    await new RegistryClient().push(image, `${reg.host}/fault/manifest:1`);
    const p = await proxy((req) => (req.url?.includes('/manifests/sha256:') ? { kind: 'corrupt-body', at: 10 } : { kind: 'pass' }));
    const err = await failure(new RegistryClient().getManifest(`${p.host}/fault/manifest@${await image.digest()}`));
    expect(err.code).toBe('DIGEST_MISMATCH');
    expect(err.data.expected).toBe(await image.digest());
  });

  it('blob reads redirected to another origin (as object-storage registries do) succeed without carrying the credentials there', async () => {
    const image = randomImage(2, 64);
    await new RegistryClient().push(image, `${reg.host}/fault/redirect:1`);
    // A "CDN" on another port serving blobs from the registry, noting any Authorization it is sent.
    const cdnSaw: Array<string | undefined> = [];
    const cdn = createServer((req, res) => {
      cdnSaw.push(req.headers.authorization);
      httpRequest({ host: '127.0.0.1', port: reg.port, path: req.url, method: 'GET' }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      }).end();
    });
    await new Promise<void>((r) => cdn.listen(0, '127.0.0.1', () => r()));
    const cdnPort = (cdn.address() as AddressInfo).port;
    try {
      const authHeader = `Basic ${Buffer.from('erin:pw').toString('base64')}`;
      const p = await proxy((req): ProxyAction => {
        if (req.headers.authorization !== authHeader) return { kind: 'respond', status: 401, headers: { 'www-authenticate': 'Basic realm="test"' } };
        if (isBlobGet(req.method, req.url)) return { kind: 'respond', status: 307, headers: { location: `http://127.0.0.1:${cdnPort}${req.url}` } };
        return { kind: 'pass' };
      });
      const store = new ImageStore(await dir('store'));
      const result = await pull(`${p.host}/fault/redirect:1`, store, { auth: { [p.host]: { username: 'erin', password: 'pw' } } });
      expect(result.manifestDigest).toBe(await image.digest());
      expect(cdnSaw.length).toBe(3); // two layers and the config
      expect(cdnSaw.every((a) => a === undefined)).toBe(true);
      expect((await validateImage(await store.getImage(`${p.host}/fault/redirect:1`))).problems).toEqual([]);
    } finally {
      await closeServer(cdn);
    }
  });

  it('credentials are never sent to a plain-HTTP token service off loopback', async () => {
    const p = await proxy(() => ({ kind: 'respond', status: 401, headers: { 'www-authenticate': 'Bearer realm="http://auth.example.test/token",service="x"' } }));
    const err = await failure(new RegistryClient({ retries: 0, auth: { [p.host]: { username: 'u', password: 'p' } } }).getManifest(`${p.host}/fault/realm:1`));
    expect(err.code).toBe('INSECURE_REFUSED');
    expect(err.message).toContain('http://auth.example.test');
  });

  it('plain HTTP is refused for a host that is neither loopback nor named insecure, and used when named', async () => {
    // A name that is not loopback by its spelling, routed to the loopback registry by the injected fetch.
    const name = `registry.test:${reg.port}`;
    const routed = ((url: string, init: Record<string, unknown>) =>
      undiciFetch(url.replace('registry.test', '127.0.0.1'), init as Parameters<typeof undiciFetch>[1])) as unknown as typeof fetch;
    const err = await failure(new RegistryClient({ fetch: routed, retries: 0 }).getManifest(`${name}/fault/any:1`));
    expect(err.code).toBe('INSECURE_REFUSED');
    expect(err.message).toContain(name);
    const image = randomImage(1);
    const client = new RegistryClient({ fetch: routed, insecure: [name] });
    await client.push(image, `${name}/fault/insecure:1`);
    expect((await client.getManifest(`${name}/fault/insecure:1`)).digest).toBe(await image.digest());
    // The environment names it too.
    process.env.LAYERKIT_INSECURE_REGISTRIES = `other.test, ${name}`;
    try {
      expect((await new RegistryClient({ fetch: routed }).getManifest(`${name}/fault/insecure:1`)).digest).toBe(await image.digest());
    } finally {
      delete process.env.LAYERKIT_INSECURE_REGISTRIES;
    }
  });
});

describe('Docker Hub', () => {
  it('is reached at registry-1.docker.io over HTTPS, with library/ for official images', async () => {
    const urls: string[] = [];
    const offline = ((url: string) => {
      urls.push(url);
      return Promise.reject(Object.assign(new Error('offline'), { code: 'ECONNREFUSED' }));
    }) as unknown as typeof fetch;
    const err = await failure(new RegistryClient({ fetch: offline, retries: 0 }).getManifest('alpine'));
    expect(err.code).toBe('UNREACHABLE');
    expect(err.data.registry).toBe('docker.io');
    expect(urls).toEqual(['https://registry-1.docker.io/v2/']);
  });
});

describe.runIf(registryTool)('a registry killed with SIGKILL', () => {
  let reg: RunningRegistry;
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('mid-push: the push retries or fails cleanly; a later push completes and pulls back intact', async () => {
    const image = randomImage(4, 2048);
    let killed: Promise<void> | undefined;
    const client = new RegistryClient({ concurrency: 2, onEvent: (e) => {
      if (!killed && e.type === 'blob-progress' && e.direction === 'push' && e.bytes > 0) {
        killed = reg.stop('SIGKILL').then(() => new Promise((r) => setTimeout(r, 300))).then(() => reg.restart());
      }
    } });
    const outcome = await client.push(image, `${reg.host}/killed/push:1`).then(
      (r) => r,
      (e: unknown) => e,
    );
    expect(killed).toBeDefined();
    await killed;
    if (!(outcome instanceof RegistryError)) expect((outcome as { digest: string }).digest).toBe(await image.digest());
    else expect(['UNREACHABLE', 'SERVER_ERROR', 'TIMEOUT']).toContain(outcome.code);
    const pushed = await new RegistryClient().push(image, `${reg.host}/killed/push:1`);
    expect(pushed.digest).toBe(await image.digest());
    const store = new ImageStore(await dir('store'));
    await pull(`${reg.host}/killed/push:1`, store);
    expect((await validateImage(await store.getImage(`${reg.host}/killed/push:1`))).problems).toEqual([]);
    await client.close();
  });

  it('mid-pull and not back: a clean UNREACHABLE error, no image and no partial blob in the store', async () => {
    const image = randomImage(3, 2048);
    await new RegistryClient().push(image, `${reg.host}/killed/pull:1`);
    const store = new ImageStore(await dir('store'));
    let killed: Promise<void> | undefined;
    const err = await failure(
      // One blob at a time: bytes already in socket buffers may still arrive, the next blob's request cannot.
      pull(`${reg.host}/killed/pull:1`, store, {
        retries: 1,
        concurrency: 1,
        onEvent: (e) => {
          if (!killed && e.type === 'blob-progress' && e.direction === 'pull' && e.bytes > 0) killed = reg.stop('SIGKILL');
        },
      }),
    );
    await killed;
    expect(['UNREACHABLE', 'TIMEOUT']).toContain(err.code);
    expect(err.message).toContain(reg.host);
    expect(await store.list()).toEqual([]);
    expect(await expectStoreSound(store)).toEqual([]);
    // Back up: the same store completes the pull, and everything verifies.
    await reg.restart();
    const result = await pull(`${reg.host}/killed/pull:1`, store);
    expect(result.manifestDigest).toBe(await image.digest());
    expect((await validateImage(await store.getImage(`${reg.host}/killed/pull:1`))).problems).toEqual([]);
    await expectStoreSound(store);
  });

  it('mid-pull and back soon: the pull resumes within its retries', async () => {
    const image = randomImage(3, 2048);
    await new RegistryClient().push(image, `${reg.host}/killed/resume:1`);
    const store = new ImageStore(await dir('store'));
    let killed: Promise<void> | undefined;
    const events: RegistryEvent[] = [];
    const result = await pull(`${reg.host}/killed/resume:1`, store, {
      retries: 6,
      concurrency: 1,
      onEvent: (e) => {
        events.push(e);
        if (!killed && e.type === 'blob-progress' && e.direction === 'pull' && e.bytes > 0) {
          killed = reg.stop('SIGKILL').then(() => new Promise((r) => setTimeout(r, 200))).then(() => reg.restart());
        }
      },
    });
    await killed;
    expect(result.manifestDigest).toBe(await image.digest());
    expect(events.some((e) => e.type === 'retry')).toBe(true);
    expect((await validateImage(await store.getImage(`${reg.host}/killed/resume:1`))).problems).toEqual([]);
    await expectStoreSound(store);
  });
});
