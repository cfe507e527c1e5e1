/**
 * The registry module's pure parts: WWW-Authenticate parsing, host rules
 * (loopback, insecure, Docker Hub), credential lookup in config.json,
 * certs.d reading, and bounded parallelism.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { parseChallenges } from '../../src/registry/auth.js';
import { findCredentials, helperFor } from '../../src/registry/credentials.js';
import { allowsPlainHttp, apiHost, certsDirs, credentialKey, hostTls, insecureHosts, isLoopback, registryDomain, splitHostPort } from '../../src/registry/hosts.js';
import { forEachLimit } from '../../src/registry/limit.js';
import { tempDir } from './helpers.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});
async function dir(name: string): Promise<string> {
  const d = await tempDir(name);
  dirs.push(d);
  return d;
}

describe('parseChallenges', () => {
  it("reads Docker Hub's bearer challenge", () => {
    expect(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' } },
    ]);
  });

  it('reads several challenges, unquoted values and escapes', () => {
    expect(parseChallenges('Basic realm="a \\"quoted\\" realm", Bearer realm=https://t/token, service=svc')).toEqual([
      { scheme: 'basic', params: { realm: 'a "quoted" realm' } },
      { scheme: 'bearer', params: { realm: 'https://t/token', service: 'svc' } },
    ]);
  });

  it('gives back any parameters written as quoted strings (property)', () => {
    const key = fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/);
    const value = fc.string({ maxLength: 30 }).filter((v) => !/[\u0000-\u001f\u007f]/.test(v));
    fc.assert(
      fc.property(fc.constantFrom('Bearer', 'Basic', 'Custom'), fc.dictionary(key, value, { maxKeys: 5 }), (scheme, params) => {
        const header = `${scheme} ${Object.entries(params).map(([k, v]) => `${k}="${v.replace(/["\\]/g, '\\$&')}"`).join(', ')}`;
        const parsed = parseChallenges(header);
        expect(parsed).toHaveLength(1);
        expect(parsed[0]).toEqual({ scheme: scheme.toLowerCase(), params });
      }),
    );
  });
});

describe('hosts', () => {
  it('knows loopback hosts the way Docker does', () => {
    for (const h of ['localhost', 'localhost:5000', '127.0.0.1:5000', '127.1.2.3', '[::1]:5000', 'reg.localhost:80']) expect(isLoopback(h)).toBe(true);
    for (const h of ['example.com', '10.0.0.1:5000', '128.0.0.1', '[::2]:5000', 'localhost.example.com', '127.0.0.1.nip.io']) expect(isLoopback(h)).toBe(false);
  });

  it('allows plain HTTP only for loopback and hosts named insecure (with or without the port)', () => {
    expect(allowsPlainHttp('127.0.0.1:5000', [])).toBe(true);
    expect(allowsPlainHttp('registry.lan:5000', [])).toBe(false);
    expect(allowsPlainHttp('registry.lan:5000', ['registry.lan:5000'])).toBe(true);
    expect(allowsPlainHttp('registry.lan:5000', ['registry.lan'])).toBe(true);
    expect(allowsPlainHttp('registry.lan:5000', ['registry.lan:5001'])).toBe(false);
    expect(insecureHosts(['a:1'], { LAYERKIT_INSECURE_REGISTRIES: 'b:2, c  http://d:3/' })).toEqual(['a:1', 'b:2', 'c', 'd:3']);
  });

  it("maps Docker Hub's names", () => {
    expect(apiHost('docker.io')).toBe('registry-1.docker.io');
    expect(apiHost('localhost:5000')).toBe('localhost:5000');
    expect(credentialKey('docker.io')).toBe('https://index.docker.io/v1/');
    expect(registryDomain('https://index.docker.io/v1/')).toBe('docker.io');
    expect(registryDomain('http://localhost:5000/v2/')).toBe('localhost:5000');
    expect(splitHostPort('[::1]:5000')).toEqual({ hostname: '::1', port: '5000' });
  });

  it('searches certs.d under the Docker config, /etc/docker and /etc/containers unless told otherwise', () => {
    expect(certsDirs(undefined, '/home/me/.docker', {})).toEqual(['/home/me/.docker/certs.d', '/etc/docker/certs.d', '/etc/containers/certs.d']);
    expect(certsDirs(undefined, '/x', { LAYERKIT_CERTS_DIRS: '/a:/b' })).toEqual(['/a', '/b']);
    expect(certsDirs(['/only'], '/x', { LAYERKIT_CERTS_DIRS: '/a' })).toEqual(['/only']);
  });

  it('reads every *.crt of certs.d/HOST:PORT as a CA, and a NAME.cert with NAME.key as a client certificate', async () => {
    const root = await dir('certs');
    await mkdir(join(root, 'reg.lan:5000'));
    await writeFile(join(root, 'reg.lan:5000', 'ca.crt'), 'CA1');
    await writeFile(join(root, 'reg.lan:5000', 'extra.crt'), 'CA2');
    await writeFile(join(root, 'reg.lan:5000', 'client.cert'), 'CERT');
    await writeFile(join(root, 'reg.lan:5000', 'client.key'), 'KEY');
    const tls = await hostTls('reg.lan:5000', [root, join(root, 'missing')], 'CA0');
    expect(tls.ca).toEqual(['CA0', 'CA1', 'CA2']);
    expect(tls.cert).toBe('CERT');
    expect(tls.key).toBe('KEY');
    expect((await hostTls('other:1', [root], undefined)).ca).toEqual([]);
  });
});

describe('credentials in config.json', () => {
  it('decodes auths entries, matching keys written as URLs, and tokens', async () => {
    const config = await dir('docker-config');
    await writeFile(
      join(config, 'config.json'),
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth: Buffer.from('hub:pw:with:colons').toString('base64') },
          'http://reg.lan:5000/v2/': { username: 'u', password: 'p' },
          'tok.lan': { auth: '', identitytoken: 'refresh' },
          'bearer.lan': { registrytoken: 'abc' },
        },
      }),
    );
    expect(await findCredentials('docker.io', { dockerConfig: config })).toEqual({ username: 'hub', password: 'pw:with:colons' });
    expect(await findCredentials('reg.lan:5000', { dockerConfig: config })).toEqual({ username: 'u', password: 'p' });
    expect(await findCredentials('tok.lan', { dockerConfig: config })).toEqual({ identityToken: 'refresh' });
    expect(await findCredentials('bearer.lan', { dockerConfig: config })).toEqual({ registryToken: 'abc' });
    expect(await findCredentials('nobody.lan', { dockerConfig: config })).toBeUndefined();
  });

  it('a missing config.json is no credentials; a broken one is a CREDENTIALS error', async () => {
    const config = await dir('docker-config');
    expect(await findCredentials('x', { dockerConfig: config })).toBeUndefined();
    await writeFile(join(config, 'config.json'), '{not json');
    await expect(findCredentials('x', { dockerConfig: config })).rejects.toMatchObject({ code: 'CREDENTIALS' });
  });

  it('credHelpers[host] wins over credsStore', () => {
    const config = { credsStore: 'desktop', credHelpers: { 'reg.lan:5000': 'pass', 'https://index.docker.io/v1/': 'hub' } };
    expect(helperFor(config, 'reg.lan:5000')).toBe('pass');
    expect(helperFor(config, 'docker.io')).toBe('hub');
    expect(helperFor(config, 'other')).toBe('desktop');
    expect(helperFor({}, 'other')).toBeUndefined();
  });
});

describe('forEachLimit', () => {
  it('runs each item once with never more than `limit` at a time, and settles everything before failing (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(3), { maxLength: 20 }), fc.integer({ min: 1, max: 6 }), fc.option(fc.nat(19), { nil: undefined }), async (delays, limit, failAt) => {
        let running = 0;
        let peak = 0;
        let finished = 0;
        const seen: number[] = [];
        const outcome = await forEachLimit(delays, limit, async (d, i) => {
          running++;
          peak = Math.max(peak, running);
          seen.push(i);
          await new Promise((r) => setTimeout(r, d));
          running--;
          finished++;
          if (i === failAt) throw new Error(`item ${i}`);
        }).then(
          () => 'ok',
          (e: Error) => e.message,
        );
        expect(peak).toBeLessThanOrEqual(limit);
        expect(running).toBe(0);
        expect(finished).toBe(seen.length);
        expect(new Set(seen).size).toBe(seen.length);
        if (failAt !== undefined && failAt < delays.length) expect(outcome).toBe(`item ${failAt}`);
        else {
          expect(outcome).toBe('ok');
          expect(seen.sort((a, b) => a - b)).toEqual(delays.map((_, i) => i));
        }
      }),
      { numRuns: 60 },
    );
  });
});
