/**
 * Registry hosts: the API host of a reference's domain, which hosts may use
 * plain HTTP, and the TLS trust of each host (system CAs plus the
 * `certs.d/HOST:PORT/` directories Docker and podman read).
 * @module
 */
import { readdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';

/** Where Docker Hub's registry API lives (the `docker.io` domain has no API of its own). */
export const DOCKER_HUB_API = 'registry-1.docker.io';
/** The key Docker's config.json uses for Docker Hub credentials. */
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

/**
 * The host (and port) whose `/v2/` API serves a reference's domain.
 *
 * @example
 * ```ts
 * apiHost('docker.io');      // 'registry-1.docker.io'
 * apiHost('localhost:5000'); // 'localhost:5000'
 * ```
 */
export function apiHost(domain: string): string {
  return domain === 'docker.io' ? DOCKER_HUB_API : domain;
}

/** The key of a registry in config.json `auths` and the server URL handed to credential helpers. */
export function credentialKey(domain: string): string {
  return domain === 'docker.io' || domain === 'index.docker.io' || domain === DOCKER_HUB_API ? DOCKER_HUB_AUTH_KEY : domain;
}

/**
 * Normalizes what a user or config file calls a registry (`https://host:5000/v2/`,
 * `host:5000`, `docker.io`) to the domain a reference uses (`host:5000`, `docker.io`),
 * as Docker's `ConvertToHostname` does.
 */
export function registryDomain(text: string): string {
  let host = text.trim().replace(/^[a-z]+:\/\//i, '');
  const slash = host.indexOf('/');
  if (slash >= 0) host = host.slice(0, slash);
  if (host === 'index.docker.io' || host === DOCKER_HUB_API || host === 'registry.hub.docker.com') return 'docker.io';
  return host;
}

/** Splits `host:port`, `[::1]:5000`, `host` into hostname and port. */
export function splitHostPort(host: string): { hostname: string; port?: string } {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    const port = host.slice(end + 1).startsWith(':') ? host.slice(end + 2) : undefined;
    return port ? { hostname: host.slice(1, end), port } : { hostname: host.slice(1, end) };
  }
  const colon = host.lastIndexOf(':');
  if (colon < 0) return { hostname: host };
  return { hostname: host.slice(0, colon), port: host.slice(colon + 1) };
}

/**
 * True for `localhost`, 127.0.0.0/8 and ::1, with or without a port: the
 * registries plain HTTP is allowed for without naming them insecure.
 *
 * @example
 * ```ts
 * isLoopback('127.0.0.1:5000'); // true
 * isLoopback('registry.lan');   // false
 * ```
 */
export function isLoopback(host: string): boolean {
  const { hostname } = splitHostPort(host);
  const name = hostname.toLowerCase();
  return name === 'localhost' || name.endsWith('.localhost') || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name) || name === '::1';
}

/**
 * The hosts named insecure: the option's list plus `$LAYERKIT_INSECURE_REGISTRIES`
 * (comma- or space-separated `host[:port]`).
 */
export function insecureHosts(option: readonly string[] | undefined, env: NodeJS.ProcessEnv = process.env): string[] {
  const fromEnv = (env.LAYERKIT_INSECURE_REGISTRIES ?? '').split(/[\s,]+/).filter((h) => h !== '');
  return [...(option ?? []), ...fromEnv].map(registryDomain);
}

/**
 * Whether plain HTTP may be used for `host`: loopback hosts (as Docker allows),
 * and hosts named insecure (`host:port` exactly, or `host` for every port).
 */
export function allowsPlainHttp(host: string, insecure: readonly string[]): boolean {
  if (isLoopback(host)) return true;
  const { hostname } = splitHostPort(host);
  return insecure.some((h) => h === host || h === hostname);
}

/** The Docker config directory: the option, `$DOCKER_CONFIG`, else `~/.docker`. */
export function dockerConfigDir(option?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (option !== undefined && option !== '') return option;
  const fromEnv = env.DOCKER_CONFIG;
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : join(homedir(), '.docker');
}

/**
 * The `certs.d` directories searched for per-registry certificates, first
 * match wins per file: the option, else `$LAYERKIT_CERTS_DIRS` (colon-separated),
 * else `<docker config>/certs.d`, `/etc/docker/certs.d`, `/etc/containers/certs.d`.
 */
export function certsDirs(option: readonly string[] | undefined, dockerConfig: string, env: NodeJS.ProcessEnv = process.env): string[] {
  if (option) return [...option];
  const fromEnv = env.LAYERKIT_CERTS_DIRS;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv.split(':').filter((d) => d !== '');
  return [join(dockerConfig, 'certs.d'), '/etc/docker/certs.d', '/etc/containers/certs.d'];
}

/** The TLS material for one host. */
export interface HostTls {
  /** Extra CA certificates (PEM) besides the system's. */
  ca: string[];
  /** A client certificate and key (`*.cert` + `*.key`), when the directory has one. */
  cert?: string;
  key?: string;
  /** The files the material came from, for error messages. */
  files: string[];
}

/**
 * Reads `<dir>/<host>/` for every certs directory, as Docker does: each
 * `*.crt` is a CA, a `NAME.cert` with its `NAME.key` is a client certificate.
 */
export async function hostTls(host: string, dirs: readonly string[], extraCa: string | Uint8Array | undefined): Promise<HostTls> {
  const tls: HostTls = { ca: [], files: [] };
  if (extraCa !== undefined) tls.ca.push(typeof extraCa === 'string' ? extraCa : new TextDecoder().decode(extraCa));
  for (const dir of dirs) {
    const hostDir = join(dir, host.replace(/^\[(.*)\]/, '$1'));
    let names: string[];
    try {
      names = (await readdir(hostDir)).sort();
    } catch {
      continue;
    }
    for (const name of names) {
      const path = join(hostDir, name);
      if (name.endsWith('.crt')) {
        tls.ca.push(await readFile(path, 'utf8'));
        tls.files.push(path);
      } else if (name.endsWith('.cert') && tls.cert === undefined) {
        const keyName = `${name.slice(0, -'.cert'.length)}.key`;
        if (!names.includes(keyName)) continue;
        tls.cert = await readFile(path, 'utf8');
        tls.key = await readFile(join(hostDir, keyName), 'utf8');
        tls.files.push(path, join(hostDir, keyName));
      }
    }
  }
  return tls;
}

const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem'];
let systemCas: Promise<string[]> | undefined;

/**
 * The CAs every connection trusts: Node's bundled roots, the system bundle
 * (where `update-ca-certificates` puts a site's own CAs) and `$NODE_EXTRA_CA_CERTS`.
 */
export function systemTrust(): Promise<string[]> {
  systemCas ??= (async () => {
    const out = [...rootCertificates];
    const extraFile = process.env.NODE_EXTRA_CA_CERTS;
    for (const file of [...SYSTEM_BUNDLES, ...(extraFile ? [extraFile] : [])]) {
      const text = await readFile(file, 'utf8').catch(() => undefined);
      if (text !== undefined) out.push(text);
      if (text !== undefined && file !== extraFile) break;
    }
    return out;
  })();
  return systemCas;
}
