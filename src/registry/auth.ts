/**
 * Registry authentication: `WWW-Authenticate` challenges, Basic credentials,
 * and bearer tokens from a token service (GET with Basic credentials or
 * anonymously; POST OAuth2 with a refresh token), cached per scope set.
 * @module
 */
import type { Credentials } from './credentials.js';
import { RegistryError } from './errors.js';
import type { HttpResponse } from './http-response.js';
import { memoPromise } from '../memo.js';

/** One challenge of a `WWW-Authenticate` header. */
export interface Challenge {
  /** Lower-case scheme: `bearer`, `basic`. */
  scheme: string;
  /** Parameters with lower-case names: `realm`, `service`, `scope`. */
  params: Record<string, string>;
}

/**
 * Parses a `WWW-Authenticate` header (RFC 7235): one or more challenges, each
 * a scheme and comma-separated `name=value` / `name="quoted value"` pairs.
 *
 * @example
 * ```ts
 * parseChallenges('Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull"');
 * // [{ scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'reg', scope: 'repository:a:pull' } }]
 * ```
 */
export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const n = header.length;
  const skip = (re: RegExp) => {
    while (i < n && re.test(header[i]!)) i++;
  };
  const token = () => {
    const start = i;
    while (i < n && /[!#$%&'*+\-.^_`|~0-9A-Za-z/]/.test(header[i]!)) i++;
    return header.slice(start, i);
  };
  let current: Challenge | undefined;
  while (i < n) {
    skip(/[\s,]/);
    if (i >= n) break;
    const start = i;
    const word = token();
    if (word === '') {
      i++;
      continue;
    }
    skip(/\s/);
    if (header[i] === '=' && current) {
      i++;
      skip(/\s/);
      let value: string;
      if (header[i] === '"') {
        i++;
        value = '';
        while (i < n && header[i] !== '"') {
          if (header[i] === '\\' && i + 1 < n) i++;
          value += header[i];
          i++;
        }
        i++;
      } else {
        // Unquoted: RFC 7235 allows only a token, but servers write URLs bare too; read to the next comma.
        const start2 = i;
        while (i < n && header[i] !== ',' && !/\s/.test(header[i]!)) i++;
        value = header.slice(start2, i);
      }
      current.params[word.toLowerCase()] = value;
    } else {
      // A new scheme (possibly followed by a token68 we do not use).
      i = start + word.length;
      current = { scheme: word.toLowerCase(), params: {} };
      out.push(current);
    }
  }
  return out;
}

/** The scope string of a repository action set: `repository:me/app:pull,push`. */
export function repositoryScope(repository: string, actions: 'pull' | 'pull,push'): string {
  return `repository:${repository}:${actions}`;
}

/** How {@link Authenticator} reaches the world (provided by the transport). */
export interface AuthDeps {
  credentials(domain: string): Promise<Credentials | undefined>;
  /** A request to a token service (TLS and timeouts of the transport, no auth). */
  tokenFetch(url: string, init: { method: string; headers: Record<string, string>; body?: string }): Promise<HttpResponse>;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** Seconds a token is trusted when the service says nothing (the spec's default). */
const DEFAULT_TOKEN_SECONDS = 60;
/** A token is renewed this long before it runs out, so a request never carries an expired one. */
const RENEW_MARGIN_MS = 10_000;

function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

/** Per-registry challenge state and a token cache keyed by registry and scope set. */
export class Authenticator {
  readonly #deps: AuthDeps;
  readonly #challenges = new Map<string, Challenge>();
  readonly #tokens = new Map<string, CachedToken>();
  readonly #pending = new Map<string, Promise<CachedToken>>();
  readonly #credentials = new Map<string, Promise<Credentials | undefined>>();

  constructor(deps: AuthDeps) {
    this.#deps = deps;
  }

  /** The credentials known for a registry (looked up once). */
  credentials(domain: string): Promise<Credentials | undefined> {
    return memoPromise(this.#credentials, domain, () => this.#deps.credentials(domain));
  }

  /** Remembers the challenge a registry answered with (from `/v2/` or any 401). */
  setChallenge(domain: string, header: string | null): void {
    if (!header) return;
    const challenges = parseChallenges(header);
    const chosen = challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
    if (chosen) this.#challenges.set(domain, chosen);
  }

  /** Whether a registry asked for authentication at all. */
  challenged(domain: string): boolean {
    return this.#challenges.has(domain);
  }

  /** Drops the cached token of a scope set (after the registry refused it). */
  forget(domain: string, scopes: readonly string[]): void {
    this.#tokens.delete(this.#key(domain, scopes));
  }

  #key(domain: string, scopes: readonly string[]): string {
    return `${domain} ${[...new Set(scopes)].sort().join(' ')}`;
  }

  /** The `Authorization` header for a request needing `scopes`, or undefined when none is needed. */
  async authorization(domain: string, scopes: readonly string[]): Promise<string | undefined> {
    const challenge = this.#challenges.get(domain);
    if (!challenge) return undefined;
    const creds = await this.credentials(domain);
    if (challenge.scheme === 'basic') {
      if (creds && 'username' in creds) return basic(creds.username, creds.password);
      return undefined;
    }
    if (challenge.scheme !== 'bearer') return undefined;
    if (creds && 'registryToken' in creds) return `Bearer ${creds.registryToken}`;
    const wanted = [...scopes];
    if (challenge.params.scope) for (const s of challenge.params.scope.split(' ')) if (!wanted.includes(s)) wanted.push(s);
    const key = this.#key(domain, wanted);
    const cached = this.#tokens.get(key);
    if (cached && cached.expiresAt > Date.now()) return `Bearer ${cached.token}`;
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = this.#fetchToken(domain, challenge, wanted, creds).finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    const token = await pending;
    this.#tokens.set(key, token);
    return `Bearer ${token.token}`;
  }

  async #fetchToken(domain: string, challenge: Challenge, scopes: string[], creds: Credentials | undefined): Promise<CachedToken> {
    const realm = challenge.params.realm;
    if (!realm) throw new RegistryError('PROTOCOL', `${domain} asked for a bearer token but named no realm`, { registry: domain });
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new RegistryError('PROTOCOL', `${domain} named a token realm that is not a URL: ${JSON.stringify(realm)}`, { registry: domain });
    }
    const service = challenge.params.service;
    let response: HttpResponse;
    if (creds && 'identityToken' in creds) {
      // OAuth2 refresh-token grant: what Docker does with an identity token from `docker login`.
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, client_id: 'layerkit' });
      if (service) form.set('service', service);
      if (scopes.length > 0) form.set('scope', scopes.join(' '));
      response = await this.#deps.tokenFetch(url.toString(), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
      });
    } else {
      if (service) url.searchParams.set('service', service);
      for (const scope of scopes) url.searchParams.append('scope', scope);
      const headers: Record<string, string> = {};
      if (creds && 'username' in creds) {
        url.searchParams.set('account', creds.username);
        headers.authorization = basic(creds.username, creds.password);
      }
      response = await this.#deps.tokenFetch(url.toString(), { method: 'GET', headers });
    }
    const text = await response.text();
    if (response.status === 401 || response.status === 403) {
      const what = scopes.join(' ') || 'access';
      throw new RegistryError(
        'UNAUTHORIZED',
        creds
          ? `${domain}: the token service ${url.origin}${url.pathname} refused the credentials for ${what}; check them with \`layerkit login ${domain}\``
          : `${domain} requires authentication for ${what}: run \`layerkit login ${domain}\``,
        { registry: domain, status: response.status, operation: 'token' },
      );
    }
    if (!response.ok) {
      throw new RegistryError('PROTOCOL', `${domain}: the token service ${url.origin}${url.pathname} answered ${response.status}: ${text.slice(0, 200)}`, {
        registry: domain,
        status: response.status,
        operation: 'token',
      });
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new RegistryError('PROTOCOL', `${domain}: the token service answered something that is not JSON`, { registry: domain, operation: 'token' });
    }
    const token = typeof body.token === 'string' && body.token !== '' ? body.token : body.access_token;
    if (typeof token !== 'string' || token === '') {
      throw new RegistryError('PROTOCOL', `${domain}: the token service answered without a token`, { registry: domain, operation: 'token' });
    }
    const seconds = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_SECONDS;
    const issued = typeof body.issued_at === 'string' ? Date.parse(body.issued_at) : Number.NaN;
    const start = Number.isFinite(issued) && Math.abs(issued - Date.now()) < 3_600_000 ? issued : Date.now();
    return { token, expiresAt: start + seconds * 1000 - Math.min(RENEW_MARGIN_MS, (seconds * 1000) / 2) };
  }
}
