/**
 * Authentication and TLS against real registries: TLS with a CA made by
 * openssl plus htpasswd Basic auth, and bearer tokens from a token service
 * the test runs (RS256 JWTs the registry checks against a certificate).
 * Credentials from the API, from config.json, and through a credential helper.
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageStore } from '../../src/image/store/store.js';
import { RegistryClient, RegistryError, login, logout, pull, readDockerConfig } from '../../src/registry/index.js';
import { findCredentials } from '../../src/registry/credentials.js';
import { validateImage } from '../../src/testing/image.js';
import { randomImage } from './fixtures.js';
import { hasTool, makeCerts, makeSigningKey, startRegistry, startTokenService, type RunningRegistry, type TestCerts, type TokenService, scopedTempDirs } from './helpers.js';

const ready = (await hasTool('docker-registry', 'the registry auth tests (apt-get install docker-registry)')) && (await hasTool('openssl', 'the registry TLS tests (apt-get install openssl)'));

const dir = scopedTempDirs();

async function failure(p: Promise<unknown>): Promise<RegistryError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RegistryError);
  return err as RegistryError;
}

describe.runIf(ready)('TLS with a self-signed CA and htpasswd Basic auth', () => {
  let reg: RunningRegistry;
  let certs: TestCerts;
  let certsDir: string;
  beforeAll(async () => {
    certs = await makeCerts(await dir('certs'));
    reg = await startRegistry({ tls: { cert: certs.serverCert, key: certs.serverKey }, htpasswd: { alice: 's3cret', bob: 'hunter2' } });
    // The CA where Docker looks for it: certs.d/HOST:PORT/ca.crt (a private directory, not /etc).
    certsDir = await dir('certs.d');
    await mkdir(join(certsDir, reg.host));
    await writeFile(join(certsDir, reg.host, 'ca.crt'), await readFile(certs.caCert));
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('pushes and pulls over TLS with the CA from certs.d and credentials from the API', async () => {
    const image = randomImage(2);
    const auth = { [reg.host]: { username: 'alice', password: 's3cret' } };
    const client = new RegistryClient({ certsDirs: [certsDir], auth });
    await client.push(image, `${reg.host}/tls/app:1`);
    const store = new ImageStore(await dir('store'));
    const result = await pull(`${reg.host}/tls/app:1`, store, { certsDirs: [certsDir], auth });
    expect(result.manifestDigest).toBe(await image.digest());
    expect((await validateImage(await store.getImage(`${reg.host}/tls/app:1`))).problems).toEqual([]);
    await client.close();
  });

  it('takes the CA from the ca option too', async () => {
    const client = new RegistryClient({ certsDirs: [], ca: { [reg.host]: await readFile(certs.caCert, 'utf8') }, auth: { [reg.host]: { username: 'bob', password: 'hunter2' } } });
    await client.checkLogin(reg.host);
    await client.close();
  });

  it('refuses a certificate it cannot trust, naming where the CA belongs, and never falls back to plain HTTP', async () => {
    const err = await failure(new RegistryClient({ certsDirs: [join(certsDir, 'nowhere')], retries: 0 }).getManifest(`${reg.host}/tls/app:1`));
    expect(err.code).toBe('TLS');
    expect(err.message).toContain(reg.host);
    expect(err.message).toContain(`nowhere/${reg.host}/ca.crt`);
  });

  it('a 401 without credentials names the registry and how to log in', async () => {
    const empty = await dir('docker-config');
    const err = await failure(new RegistryClient({ certsDirs: [certsDir], dockerConfig: empty }).getManifest(`${reg.host}/tls/app:1`));
    expect(err.code).toBe('UNAUTHORIZED');
    expect(err.message).toContain(reg.host);
    expect(err.message).toContain(`layerkit login ${reg.host}`);
    expect(err.data.registry).toBe(reg.host);
  });

  it('wrong credentials are refused, with a message that says they were refused', async () => {
    const err = await failure(new RegistryClient({ certsDirs: [certsDir], auth: { [reg.host]: { username: 'alice', password: 'nope' } } }).getManifest(`${reg.host}/tls/app:1`));
    expect(err.code).toBe('UNAUTHORIZED');
    expect(err.message).toMatch(/refused the credentials/);
  });

  it('login checks and saves credentials in config.json; pulls then use them; logout removes them', async () => {
    const config = await dir('docker-config');
    await writeFile(join(config, 'config.json'), JSON.stringify({ auths: { 'other.example': { auth: 'eDp5' } }, psFormat: 'table' }));
    const bad = await failure(login(reg.host, { username: 'alice', password: 'wrong' }, { dockerConfig: config, certsDirs: [certsDir] }));
    expect(bad.code).toBe('UNAUTHORIZED');
    expect((await readDockerConfig(config)).auths?.[reg.host]).toBeUndefined();
    await login(reg.host, { username: 'alice', password: 's3cret' }, { dockerConfig: config, certsDirs: [certsDir] });
    const saved = await readDockerConfig(config);
    expect(saved.auths?.[reg.host]).toEqual({ auth: Buffer.from('alice:s3cret').toString('base64') });
    expect(saved.auths?.['other.example']).toEqual({ auth: 'eDp5' });
    expect(saved.psFormat).toBe('table');
    const store = new ImageStore(await dir('store'));
    await pull(`${reg.host}/tls/app:1`, store, { dockerConfig: config, certsDirs: [certsDir] });
    expect(await logout(reg.host, { dockerConfig: config })).toBe(true);
    const after = await readDockerConfig(config);
    expect(after.auths?.[reg.host]).toBeUndefined();
    expect(after.auths?.['other.example']).toEqual({ auth: 'eDp5' });
    expect(await logout(reg.host, { dockerConfig: config })).toBe(false);
  });
});

describe.runIf(ready)('bearer tokens from a token service', () => {
  let reg: RunningRegistry;
  let tokens: TokenService;
  beforeAll(async () => {
    const key = await makeSigningKey(await dir('signing'));
    tokens = await startTokenService({ key: key.key, cert: key.cert, users: { carol: 'pw-carol' }, refreshTokens: { 'refresh-for-carol': 'carol' } });
    reg = await startRegistry({ token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: key.certPath } });
  });
  afterAll(async () => {
    await reg?.stop();
    await tokens?.stop();
  });

  it('asks for pull,push to push and pull to pull, plus the mount source; reuses tokens per scope', async () => {
    const auth = { [reg.host]: { username: 'carol', password: 'pw-carol' } };
    const image = randomImage(2);
    const client = new RegistryClient({ auth });
    tokens.requests.length = 0;
    await client.push(image, `${reg.host}/tok/source:1`);
    const pushScopes = tokens.requests.map((r) => r.scopes.join(' '));
    expect(pushScopes).toContain('repository:tok/source:pull,push');
    // One token for the whole push, however many requests it made.
    expect(pushScopes.filter((s) => s === 'repository:tok/source:pull,push').length).toBe(1);
    tokens.requests.length = 0;
    const remote = await client.getImage(`${reg.host}/tok/source:1`);
    expect(tokens.requests.map((r) => r.scopes.join(' '))).toEqual(['repository:tok/source:pull']);
    tokens.requests.length = 0;
    await client.push(remote, `${reg.host}/tok/target:1`);
    expect(tokens.requests.some((r) => r.scopes.includes('repository:tok/target:pull,push') && r.scopes.includes('repository:tok/source:pull'))).toBe(true);
    expect(tokens.requests.every((r) => r.user === 'carol')).toBe(true);
    const store = new ImageStore(await dir('store'));
    const result = await pull(`${reg.host}/tok/target:1`, store, { auth });
    expect(result.manifestDigest).toBe(await image.digest());
    await client.close();
  });

  it('an identity token from config.json is exchanged with an OAuth2 POST', async () => {
    await new RegistryClient({ auth: { [reg.host]: { username: 'carol', password: 'pw-carol' } } }).push(randomImage(1), `${reg.host}/tok/oauth:1`);
    const config = await dir('docker-config');
    await writeFile(join(config, 'config.json'), JSON.stringify({ auths: { [reg.host]: { auth: '', identitytoken: 'refresh-for-carol' } } }));
    tokens.requests.length = 0;
    const got = await new RegistryClient({ dockerConfig: config }).getManifest(`${reg.host}/tok/oauth:1`);
    expect(got.digest).toMatch(/^sha256:/);
    expect(tokens.requests).toEqual([{ method: 'POST', scopes: ['repository:tok/oauth:pull'], user: 'carol' }]);
  });

  it('anonymous access the token service grants nothing to fails with a login hint', async () => {
    const err = await failure(new RegistryClient({ dockerConfig: await dir('docker-config') }).getManifest(`${reg.host}/tok/source:1`));
    expect(err.code).toBe('UNAUTHORIZED');
    expect(err.message).toContain(`layerkit login ${reg.host}`);
  });

  it('a bad password is refused by the token service, and the message says so', async () => {
    const err = await failure(new RegistryClient({ auth: { [reg.host]: { username: 'carol', password: 'wrong' } } }).getManifest(`${reg.host}/tok/source:1`));
    expect(err.code).toBe('UNAUTHORIZED');
    expect(err.message).toMatch(/refused the credentials/);
  });

  it('credentials come through a credsStore helper (docker-credential-NAME get/store/erase)', async () => {
    const bin = await dir('bin');
    const store = await dir('helper-store');
    // A real executable speaking the helper protocol: server URL on stdin, JSON on stdout.
    const helper = `#!/bin/sh
set -e
store='${store}'
case "$1" in
  get) url=$(cat); f="$store/$(printf %s "$url" | tr '/:' '__')"; if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  store) json=$(cat); url=$(printf %s "$json" | sed 's/.*"ServerURL":"\\([^"]*\\)".*/\\1/'); printf %s "$json" > "$store/$(printf %s "$url" | tr '/:' '__')" ;;
  erase) url=$(cat); f="$store/$(printf %s "$url" | tr '/:' '__')"; if [ -f "$f" ]; then rm "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  *) exit 2 ;;
esac
`;
    await writeFile(join(bin, 'docker-credential-test'), helper);
    await chmod(join(bin, 'docker-credential-test'), 0o755);
    const config = await dir('docker-config');
    await writeFile(join(config, 'config.json'), JSON.stringify({ credsStore: 'test' }));
    const oldPath = process.env.PATH;
    process.env.PATH = `${bin}:${oldPath}`;
    try {
      expect(await findCredentials(reg.host, { dockerConfig: config })).toBeUndefined();
      await login(reg.host, { username: 'carol', password: 'pw-carol' }, { dockerConfig: config });
      // The secret went to the helper; config.json only lists the registry.
      const saved = await readDockerConfig(config);
      expect(saved.auths?.[reg.host]).toEqual({});
      expect(JSON.stringify(saved)).not.toContain('pw-carol');
      expect(await findCredentials(reg.host, { dockerConfig: config })).toEqual({ username: 'carol', password: 'pw-carol' });
      tokens.requests.length = 0;
      await new RegistryClient({ dockerConfig: config }).getManifest(`${reg.host}/tok/source:1`);
      expect(tokens.requests.map((r) => r.user)).toEqual(['carol']);
      expect(await logout(reg.host, { dockerConfig: config })).toBe(true);
      expect(await findCredentials(reg.host, { dockerConfig: config })).toBeUndefined();
    } finally {
      process.env.PATH = oldPath;
    }
  });
});
