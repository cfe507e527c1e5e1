/**
 * Registry credentials in Docker's `config.json`: `auths` entries (base64
 * `user:password`, identity and registry tokens) and the
 * `docker-credential-NAME` helper protocol (`credsStore`, `credHelpers`).
 * @module
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RegistryError } from './errors.js';
import { credentialKey, dockerConfigDir, registryDomain } from './hosts.js';

/**
 * Credentials for one registry: a user and password (or personal access
 * token), an OAuth2 refresh token (`identitytoken`, what `docker login`
 * stores for some registries), or a bearer token used as is.
 *
 * @example
 * ```ts
 * const creds: Credentials = { username: 'me', password: process.env.TOKEN! };
 * ```
 */
export type Credentials = { username: string; password: string } | { identityToken: string } | { registryToken: string };

/** One `auths` entry of config.json. */
export interface DockerAuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
  email?: string;
  [key: string]: unknown;
}

/**
 * The parts of Docker's `config.json` layerkit reads; other keys are kept as
 * they are when layerkit writes the file.
 *
 * @example
 * ```ts
 * const config = await readDockerConfig();
 * console.log(Object.keys(config.auths ?? {}), config.credsStore);
 * ```
 */
export interface DockerConfig {
  auths?: Record<string, DockerAuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [key: string]: unknown;
}

function configPath(dir?: string): string {
  return join(dockerConfigDir(dir), 'config.json');
}

/**
 * Reads Docker's `config.json` from `dir` (default `$DOCKER_CONFIG`, else
 * `~/.docker`). A missing file is an empty config.
 *
 * @throws {@link RegistryError} `CREDENTIALS` for a file that is not a JSON object.
 * @example
 * ```ts
 * const { auths } = await readDockerConfig('/tmp/docker-config');
 * ```
 */
export async function readDockerConfig(dir?: string): Promise<DockerConfig> {
  const path = configPath(dir);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = text.trim() === '' ? {} : JSON.parse(text);
  } catch (err) {
    throw new RegistryError('CREDENTIALS', `${path} is not valid JSON: ${(err as Error).message}`, { registry: '' }, { cause: err });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new RegistryError('CREDENTIALS', `${path} is not a JSON object`, { registry: '' });
  }
  return parsed as DockerConfig;
}

async function writeDockerConfig(dir: string | undefined, config: DockerConfig): Promise<void> {
  const path = configPath(dir);
  await mkdir(dockerConfigDir(dir), { recursive: true, mode: 0o700 });
  // The file holds secrets: private to the user, and replaced whole so a crash never leaves half of it.
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  try {
    await writeFile(tmp, `${JSON.stringify(config, null, '\t')}\n`, { mode: 0o600 });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

function entryFor(auths: Record<string, DockerAuthEntry> | undefined, domain: string): [string, DockerAuthEntry] | undefined {
  if (!auths) return undefined;
  const key = credentialKey(domain);
  if (auths[key]) return [key, auths[key]];
  for (const [k, v] of Object.entries(auths)) if (registryDomain(k) === domain) return [k, v];
  return undefined;
}

function fromEntry(domain: string, entry: DockerAuthEntry): Credentials | undefined {
  if (typeof entry.registrytoken === 'string' && entry.registrytoken !== '') return { registryToken: entry.registrytoken };
  if (typeof entry.identitytoken === 'string' && entry.identitytoken !== '') return { identityToken: entry.identitytoken };
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new RegistryError('CREDENTIALS', `the auth entry for ${domain} in config.json is not base64 of user:password`, { registry: domain });
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (typeof entry.username === 'string' && typeof entry.password === 'string') return { username: entry.username, password: entry.password };
  return undefined;
}

/** Runs `docker-credential-NAME VERB` with `input` on stdin; resolves stdout, or rejects with stderr/stdout text. */
function runHelper(name: string, verb: string, input: string, domain: string): Promise<{ ok: boolean; out: string }> {
  const program = `docker-credential-${name}`;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(program, [verb], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', (e) =>
      reject(new RegistryError('CREDENTIALS', `credential helper ${program} could not run for ${domain}: ${e.message}`, { registry: domain }, { cause: e })),
    );
    child.on('close', (code) => resolvePromise({ ok: code === 0, out: code === 0 ? out : `${out}${err}`.trim() }));
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

/** The helper that keeps a registry's credentials, if config.json names one. */
export function helperFor(config: DockerConfig, domain: string): string | undefined {
  const helpers = config.credHelpers ?? {};
  const key = credentialKey(domain);
  const specific = helpers[key] ?? helpers[domain] ?? Object.entries(helpers).find(([k]) => registryDomain(k) === domain)?.[1];
  if (specific) return specific;
  return typeof config.credsStore === 'string' && config.credsStore !== '' ? config.credsStore : undefined;
}

async function helperGet(helper: string, domain: string): Promise<Credentials | undefined> {
  const { ok, out } = await runHelper(helper, 'get', credentialKey(domain), domain);
  if (!ok) {
    if (/credentials not found/i.test(out)) return undefined;
    throw new RegistryError('CREDENTIALS', `credential helper docker-credential-${helper} failed for ${domain}: ${out || 'no output'}`, { registry: domain });
  }
  let parsed: { Username?: unknown; Secret?: unknown };
  try {
    parsed = JSON.parse(out) as typeof parsed;
  } catch {
    throw new RegistryError('CREDENTIALS', `credential helper docker-credential-${helper} printed something that is not JSON for ${domain}`, { registry: domain });
  }
  if (typeof parsed.Secret !== 'string' || parsed.Secret === '') return undefined;
  // Docker's convention: the user name `<token>` marks an identity token.
  if (parsed.Username === '<token>') return { identityToken: parsed.Secret };
  return { username: typeof parsed.Username === 'string' ? parsed.Username : '', password: parsed.Secret };
}

/**
 * The credentials for a registry domain (`docker.io`, `localhost:5000`), as
 * Docker finds them: `credHelpers[host]`, else `credsStore`, else `auths`.
 *
 * @example
 * ```ts
 * const creds = await findCredentials('localhost:5000', { dockerConfig: '/tmp/cfg' });
 * ```
 */
export async function findCredentials(domain: string, options: { dockerConfig?: string } = {}): Promise<Credentials | undefined> {
  const config = await readDockerConfig(options.dockerConfig);
  const helper = helperFor(config, domain);
  if (helper) {
    const found = await helperGet(helper, domain);
    if (found) return found;
  }
  const entry = entryFor(config.auths, domain);
  return entry ? fromEntry(domain, entry[1]) : undefined;
}

/**
 * Saves credentials the way `docker login` does: through the credential
 * helper config.json names for the host, else as a base64 `auth` entry in
 * `auths` (the file is created private to the user).
 */
export async function storeCredentials(domain: string, creds: { username: string; password: string }, options: { dockerConfig?: string } = {}): Promise<'helper' | 'file'> {
  const config = await readDockerConfig(options.dockerConfig);
  const helper = helperFor(config, domain);
  if (helper) {
    const payload = JSON.stringify({ ServerURL: credentialKey(domain), Username: creds.username, Secret: creds.password });
    const { ok, out } = await runHelper(helper, 'store', payload, domain);
    if (!ok) throw new RegistryError('CREDENTIALS', `credential helper docker-credential-${helper} could not store credentials for ${domain}: ${out || 'no output'}`, { registry: domain });
    // Docker keeps a bare entry in auths so `docker` lists the registry as logged in.
    const auths = { ...(config.auths ?? {}) };
    const existing = entryFor(auths, domain);
    if (existing) delete auths[existing[0]];
    auths[credentialKey(domain)] = {};
    await writeDockerConfig(options.dockerConfig, { ...config, auths });
    return 'helper';
  }
  const auths = { ...(config.auths ?? {}) };
  const existing = entryFor(auths, domain);
  if (existing) delete auths[existing[0]];
  auths[credentialKey(domain)] = { auth: Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64') };
  await writeDockerConfig(options.dockerConfig, { ...config, auths });
  return 'file';
}

/**
 * Forgets a registry's credentials: the helper's copy (when a helper is
 * configured) and the `auths` entry. Returns false when there was nothing.
 */
export async function eraseCredentials(domain: string, options: { dockerConfig?: string } = {}): Promise<boolean> {
  const config = await readDockerConfig(options.dockerConfig);
  let removed = false;
  const helper = helperFor(config, domain);
  if (helper) {
    const { ok, out } = await runHelper(helper, 'erase', credentialKey(domain), domain);
    if (ok) removed = true;
    else if (!/not found/i.test(out)) {
      throw new RegistryError('CREDENTIALS', `credential helper docker-credential-${helper} could not erase credentials for ${domain}: ${out || 'no output'}`, { registry: domain });
    }
  }
  const auths = { ...(config.auths ?? {}) };
  const existing = entryFor(auths, domain);
  if (existing) {
    delete auths[existing[0]];
    await writeDockerConfig(options.dockerConfig, { ...config, auths });
    removed = true;
  }
  return removed;
}
