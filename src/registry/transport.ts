/**
 * HTTP to registries on undici's fetch: the scheme of each host (HTTPS, or
 * plain HTTP where allowed), TLS trust per host, authentication, retries with
 * backoff on 429/5xx/network errors, inactivity timeouts, and typed errors.
 * @module
 */
import { Readable } from 'node:stream';
import type { Agent } from 'undici';

// Loaded on first use: a build that never talks to a registry does not pay for undici's memory.
type UndiciModule = { Agent: typeof Agent; request: typeof import('undici').request };
let undiciModule: Promise<UndiciModule> | undefined;
const undici = (): Promise<UndiciModule> => (undiciModule ??= import('undici').then((m) => ({ Agent: m.Agent, request: m.request })));
import { Authenticator } from './auth.js';
import type { HttpResponse } from './http-response.js';
import { findCredentials, type Credentials } from './credentials.js';
import { RegistryError, type RegistryErrorCode } from './errors.js';
import type { RegistryEvent } from './events.js';
import { allowsPlainHttp, apiHost, certsDirs, dockerConfigDir, hostTls, insecureHosts, registryDomain, systemTrust } from './hosts.js';
import { memoPromise } from '../memo.js';

/** A fetch-shaped function (one a test injects). */
export type FetchLike = (url: string, init: Record<string, unknown>) => Promise<Response>;

export type { HttpResponse } from './http-response.js';

function fromFetch(res: Response): HttpResponse {
  const stream = res.body;
  const body = stream
    ? {
        [Symbol.asyncIterator]: () => (stream as unknown as AsyncIterable<Uint8Array>)[Symbol.asyncIterator](),
        cancel: () => stream.cancel().catch(() => {}),
      }
    : null;
  return { status: res.status, ok: res.ok, headers: res.headers, body, text: () => res.text() };
}

function fromUndici(res: { statusCode: number; headers: Record<string, string | string[] | undefined>; body: Readable & { text(): Promise<string> } }): HttpResponse {
  const headers = res.headers;
  const stream = res.body;
  // Destroying an unread body makes undici emit an abort error; a reader learns of errors through iteration.
  stream.on('error', () => {});
  const body = {
    [Symbol.asyncIterator]: () => (stream as AsyncIterable<Uint8Array>)[Symbol.asyncIterator](),
    cancel: async () => {
      stream.destroy();
    },
  };
  return {
    status: res.statusCode,
    ok: res.statusCode >= 200 && res.statusCode < 300,
    headers: {
      get(name: string) {
        const v = headers[name.toLowerCase()];
        return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
      },
    },
    body,
    text: () => stream.text(),
  };
}

/**
 * The options of a registry client that say how requests are made:
 * credentials, trust, retries, timeouts (see `RegistryOptions`, which adds
 * transfer concurrency and upload chunks).
 *
 * @example
 * ```ts
 * const options: TransportOptions = { insecure: ['build-cache.lan:5000'], retries: 2, timeoutMs: 30_000 };
 * ```
 */
export interface TransportOptions {
  /** Docker config dir ($DOCKER_CONFIG, default ~/.docker) for credentials; its `certs.d` for CAs. */
  dockerConfig?: string;
  /** Explicit credentials per registry host (`localhost:5000`, `docker.io`); they win over config.json. */
  auth?: Record<string, Credentials>;
  /** Hosts (`host[:port]`) allowed over plain HTTP besides loopback; `$LAYERKIT_INSECURE_REGISTRIES` adds more. */
  insecure?: string[];
  /** Extra CA certificates (PEM) per host, besides `<certs.d>/HOST:PORT/*.crt`. */
  ca?: Record<string, string | Uint8Array>;
  /** The `certs.d` directories to search (default `$LAYERKIT_CERTS_DIRS`, else `<docker config>/certs.d`, `/etc/docker/certs.d`, `/etc/containers/certs.d`). */
  certsDirs?: string[];
  /** Retries of a request on 429, 5xx and network errors (default 4), with backoff; Retry-After is honoured. */
  retries?: number;
  /** Longest wait between retries, whatever Retry-After asks (default 60 000 ms). */
  maxRetryDelayMs?: number;
  /** Inactivity timeout of every request: connect, headers, and between body chunks (default 60 000 ms). */
  timeoutMs?: number;
  /** Progress and retries as they happen. */
  onEvent?: (e: RegistryEvent) => void;
  /** A fetch to use instead of undici's (tests). */
  fetch?: typeof fetch;
}

/** One request to a registry's API. */
export interface RequestSpec {
  /** The registry domain of the reference (`docker.io`, `localhost:5000`). */
  registry: string;
  repository?: string;
  method: string;
  /** `/v2/…`, or an absolute URL the registry handed out (an upload location). */
  path: string;
  headers?: Record<string, string>;
  /** Opens the request body; called again for each attempt. */
  body?: () => Uint8Array | AsyncIterable<Uint8Array> | string | undefined;
  /** Token scopes the request needs. */
  scopes: readonly string[];
  /** Names the request in errors and events: `GET manifest 1.0`. */
  operation: string;
  /** False for requests that must not be repeated as they are (a partial upload); default true. */
  retry?: boolean;
  /** Statuses the caller handles itself (404 of a HEAD); 2xx always pass. */
  accept?: (status: number) => boolean;
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT', 'TIMEOUT']);

function errorCodes(err: unknown): { codes: string[]; messages: string[] } {
  const codes: string[] = [];
  const messages: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e && depth < 6; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string') messages.push(message);
    e = (e as { cause?: unknown }).cause;
  }
  return { codes, messages };
}

/** True for errors of certificate verification (a TLS server is there, but not trusted). */
function isCertificateError(err: unknown): boolean {
  const { codes } = errorCodes(err);
  // OpenSSL's verification codes (UNABLE_TO_VERIFY_LEAF_SIGNATURE, DEPTH_ZERO_SELF_SIGNED_CERT, …) and Node's name check.
  return codes.some((c) => /CERT|SIGNATURE|ISSUER|SELF_SIGNED|UNABLE_TO_|INVALID_CA|HOSTNAME_MISMATCH/.test(c));
}

function isPlainHttpAnswer(err: unknown): boolean {
  const { codes, messages } = errorCodes(err);
  return codes.includes('ERR_SSL_WRONG_VERSION_NUMBER') || messages.some((m) => /wrong version number|packet length too long/i.test(m));
}

/**
 * True when the registry's name does not resolve: a typo or an offline
 * machine, which waiting does not fix (Docker fails at once too). A
 * temporary resolver failure (`EAI_AGAIN`) is still retried.
 */
function isUnknownHost(err: unknown): boolean {
  return errorCodes(err).codes.includes('ENOTFOUND');
}

/** A short description of a network error: `ECONNREFUSED connect ECONNREFUSED 127.0.0.1:5000`. */
export function describeNetworkError(err: unknown): string {
  const { codes, messages } = errorCodes(err);
  const message = messages.filter((m) => m !== 'fetch failed' && m !== 'terminated').at(-1) ?? messages[0] ?? String(err);
  const code = codes.at(-1);
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}

/** True when `err` is an inactivity or connect timeout. */
export function isTimeout(err: unknown): boolean {
  return errorCodes(err).codes.some((c) => TIMEOUT_CODES.has(c));
}

function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value.trim());
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function drain(res: HttpResponse): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    // the connection is gone anyway
  }
}

/** Transport-level defaults. */
export const DEFAULTS = { retries: 4, timeoutMs: 60_000, maxRetryDelayMs: 60_000 } as const;

/** HTTP client of one {@link RegistryClient}: per-host schemes, TLS agents and authentication. */
export class Transport {
  readonly auth: Authenticator;
  readonly retries: number;
  readonly timeoutMs: number;
  readonly #options: TransportOptions;
  readonly #fetch: FetchLike | undefined;
  readonly #insecure: string[];
  readonly #dockerConfig: string;
  readonly #certsDirs: string[];
  readonly #bases = new Map<string, Promise<string>>();
  readonly #agents = new Map<string, Promise<Agent>>();

  constructor(options: TransportOptions = {}) {
    this.#options = options;
    this.retries = Math.max(0, options.retries ?? DEFAULTS.retries);
    this.timeoutMs = options.timeoutMs ?? DEFAULTS.timeoutMs;
    this.#fetch = options.fetch as unknown as FetchLike | undefined;
    this.#insecure = insecureHosts(options.insecure);
    this.#dockerConfig = dockerConfigDir(options.dockerConfig);
    this.#certsDirs = certsDirs(options.certsDirs, this.#dockerConfig);
    const explicit = new Map(Object.entries(options.auth ?? {}).map(([k, v]) => [registryDomain(k), v]));
    this.auth = new Authenticator({
      credentials: async (domain) => explicit.get(domain) ?? findCredentials(domain, { dockerConfig: this.#dockerConfig }),
      tokenFetch: (url, init) => this.#tokenFetch(url, init),
    });
  }

  /** Emits an event to the options' listener (a throwing listener is not our failure). */
  emit(event: RegistryEvent): void {
    try {
      this.#options.onEvent?.(event);
    } catch {
      // progress output must never break a transfer
    }
  }

  /** Closes the connections kept alive. */
  async close(): Promise<void> {
    const agents = [...this.#agents.values()];
    this.#agents.clear();
    await Promise.all(agents.map(async (a) => (await a).close().catch(() => {})));
  }

  #agent(host: string): Promise<Agent> {
    let agent = this.#agents.get(host);
    if (!agent) {
      agent = (async () => {
        const tls = await hostTls(host, this.#certsDirs, this.#options.ca?.[host]);
        // Node's own roots (and NODE_EXTRA_CA_CERTS) serve a host with no CA of its own; a list is only
        // built for one that has, since loading ~300 roots into a TLS context costs a noticeable time.
        const ca = tls.ca.length > 0 ? { ca: [...(await systemTrust()), ...tls.ca] } : {};
        const { Agent } = await undici();
        return new Agent({
          headersTimeout: this.timeoutMs,
          bodyTimeout: this.timeoutMs,
          connect: { timeout: this.timeoutMs, ...ca, ...(tls.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}) },
        });
      })();
      this.#agents.set(host, agent);
    }
    return agent;
  }

  async #raw(url: string, init: { method: string; headers: Record<string, string>; body?: Uint8Array | AsyncIterable<Uint8Array> | string | undefined }): Promise<HttpResponse> {
    const dispatcher = await this.#agent(new URL(url).host);
    const body = init.body;
    const streamed = body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array);
    if (this.#fetch) {
      return fromFetch(await this.#fetch(url, { ...init, dispatcher, redirect: 'follow', ...(streamed ? { duplex: 'half' } : {}) }));
    }
    const { request: undiciRequest } = await undici();
    const res = await undiciRequest(url, {
      method: init.method as 'GET',
      headers: init.headers,
      body: streamed ? Readable.from(body as AsyncIterable<Uint8Array>, { objectMode: false }) : (body as string | Uint8Array | undefined) ?? null,
      dispatcher,
      // Registries on object storage redirect blob reads; undici drops Authorization when the origin changes.
      maxRedirections: 5,
    });
    return fromUndici(res as unknown as Parameters<typeof fromUndici>[0]);
  }

  async #tokenFetch(url: string, init: { method: string; headers: Record<string, string>; body?: string }): Promise<HttpResponse> {
    const parsed = new URL(url);
    const domain = parsed.host;
    // Credentials go to a token service in the clear only where plain HTTP is allowed at all.
    if (parsed.protocol !== 'https:' && !allowsPlainHttp(domain, this.#insecure)) {
      throw new RegistryError('INSECURE_REFUSED', `the token service ${parsed.origin} is plain HTTP; it is used only on loopback or when named insecure (LAYERKIT_INSECURE_REGISTRIES=${domain})`, { registry: domain, operation: 'token' });
    }
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.#raw(url, init);
        if ((res.status === 429 || res.status >= 500) && attempt < this.retries) {
          const delay = this.delay(attempt, res.headers.get('retry-after'));
          await drain(res);
          this.emit({ type: 'retry', registry: domain, operation: 'token', attempt: attempt + 1, delayMs: delay, reason: `status ${res.status}` });
          await sleep(delay);
          continue;
        }
        return res;
      } catch (err) {
        if (attempt >= this.retries) throw this.networkError(err, domain, 'token', undefined, attempt + 1);
        const delay = this.delay(attempt);
        this.emit({ type: 'retry', registry: domain, operation: 'token', attempt: attempt + 1, delayMs: delay, reason: describeNetworkError(err) });
        await sleep(delay);
      }
    }
  }

  /** The wait before retry `attempt + 1`: Retry-After when given, else exponential backoff with jitter; capped by `maxRetryDelayMs`. */
  delay(attempt: number, retryAfter?: string | null): number {
    const max = this.#options.maxRetryDelayMs ?? DEFAULTS.maxRetryDelayMs;
    const asked = parseRetryAfter(retryAfter ?? null);
    if (asked !== undefined) return Math.min(max, asked);
    const backoff = Math.min(max, 200 * 2 ** attempt);
    return Math.round(backoff * (0.5 + Math.random() * 0.5));
  }

  /**
   * The base URL of a registry's API (`https://host:port`): HTTPS, or plain
   * HTTP for a loopback or insecure host whose HTTPS attempt failed for a
   * reason other than an untrusted certificate. Learnt from `GET /v2/` once,
   * which also records the authentication challenge.
   */
  base(domain: string): Promise<string> {
    return memoPromise(this.#bases, domain, () => this.#probe(domain));
  }

  async #probe(domain: string): Promise<string> {
    const host = apiHost(domain);
    const ping = async (base: string) => {
      const res = await this.#raw(`${base}/v2/`, { method: 'GET', headers: {} });
      this.auth.setChallenge(domain, res.headers.get('www-authenticate'));
      await drain(res);
      return base;
    };
    try {
      return await ping(`https://${host}`);
    } catch (err) {
      if (!allowsPlainHttp(domain, this.#insecure) || isCertificateError(err) || isTimeout(err)) throw err;
      try {
        return await ping(`http://${host}`);
      } catch (httpErr) {
        throw isPlainHttpAnswer(err) ? httpErr : err;
      }
    }
  }

  /** A typed error for a failed connection. */
  networkError(err: unknown, registry: string, operation: string, repository: string | undefined, attempts: number): RegistryError {
    if (err instanceof RegistryError) return err;
    const data = { registry, operation, attempts, ...(repository ? { repository } : {}) };
    const tries = attempts > 1 ? ` (after ${attempts} attempts)` : '';
    const detail = describeNetworkError(err);
    let code: RegistryErrorCode = 'UNREACHABLE';
    let message = `${registry}: ${operation} failed${tries}: ${detail}`;
    if (isTimeout(err)) {
      code = 'TIMEOUT';
      message = `${registry} stopped answering: nothing for ${this.timeoutMs} ms during ${operation}${tries}`;
    } else if (isCertificateError(err)) {
      code = 'TLS';
      message = `${registry}: the TLS certificate is not trusted (${detail}); put the registry's CA certificate in ${this.#certsDirs[0] ?? 'certs.d'}/${apiHost(registry)}/ca.crt`;
    } else if (isPlainHttpAnswer(err) && !allowsPlainHttp(registry, this.#insecure)) {
      code = 'INSECURE_REFUSED';
      message = `${registry} does not speak HTTPS; plain HTTP is used only for loopback registries and those named insecure (LAYERKIT_INSECURE_REGISTRIES=${registry}, or the insecure option)`;
    }
    return new RegistryError(code, message, data, { cause: err });
  }

  /** A typed error for a response the caller did not expect. */
  async responseError(res: HttpResponse, spec: RequestSpec): Promise<RegistryError> {
    const text = await res.text().catch(() => '');
    let registryCodes: string[] = [];
    let detail = '';
    try {
      const body = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string; detail?: unknown }> };
      registryCodes = (body.errors ?? []).map((e) => e.code ?? '').filter((c) => c !== '');
      detail = (body.errors ?? []).map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ');
    } catch {
      detail = text.slice(0, 200).trim();
    }
    const data = {
      registry: spec.registry,
      status: res.status,
      operation: spec.operation,
      registryCodes,
      ...(spec.repository ? { repository: spec.repository } : {}),
    };
    const where = spec.repository ? `${spec.registry}/${spec.repository}` : spec.registry;
    const suffix = detail ? `: ${detail}` : '';
    if (res.status === 401) {
      const creds = await this.auth.credentials(spec.registry).catch(() => undefined);
      return new RegistryError(
        'UNAUTHORIZED',
        creds
          ? `${spec.registry} refused the credentials for ${where} (${spec.operation}); check them with \`layerkit login ${spec.registry}\``
          : `${spec.registry} requires authentication for ${where} (${spec.operation}): run \`layerkit login ${spec.registry}\``,
        data,
      );
    }
    if (res.status === 403) return new RegistryError('DENIED', `${spec.registry} denied ${spec.operation} on ${where}${suffix}`, data);
    if (res.status === 404) {
      const code: RegistryErrorCode = registryCodes.includes('MANIFEST_UNKNOWN')
        ? 'MANIFEST_UNKNOWN'
        : registryCodes.includes('BLOB_UNKNOWN')
          ? 'BLOB_UNKNOWN'
          : 'NOT_FOUND';
      return new RegistryError(code, `${where}: not found (${spec.operation})${suffix}`, data);
    }
    if (res.status === 429) return new RegistryError('TOO_MANY_REQUESTS', `${spec.registry}: too many requests (${spec.operation})${suffix}`, data);
    if (res.status >= 500) return new RegistryError('SERVER_ERROR', `${spec.registry}: server error ${res.status} (${spec.operation})${suffix}`, data);
    return new RegistryError('PROTOCOL', `${spec.registry}: unexpected status ${res.status} for ${spec.operation}${suffix}`, data);
  }

  /** Sends a request with authentication and retries; resolves a 2xx (or accepted) response. */
  async request(spec: RequestSpec): Promise<HttpResponse> {
    const retries = spec.retry === false ? 0 : this.retries;
    let authRetried = false;
    for (let attempt = 0; ; attempt++) {
      let res: HttpResponse;
      try {
        const base = await this.base(spec.registry);
        const url = /^https?:\/\//.test(spec.path) ? spec.path : `${base}${spec.path}`;
        const headers: Record<string, string> = { ...spec.headers };
        if (new URL(url).origin === new URL(base).origin) {
          const authorization = await this.auth.authorization(spec.registry, spec.scopes);
          if (authorization) headers.authorization = authorization;
        }
        res = await this.#raw(url, { method: spec.method, headers, body: spec.body?.() });
      } catch (err) {
        if (err instanceof RegistryError) throw err;
        const error = this.networkError(err, spec.registry, spec.operation, spec.repository, attempt + 1);
        if (attempt >= retries || error.code === 'TLS' || error.code === 'INSECURE_REFUSED' || isUnknownHost(err)) throw error;
        const delay = this.delay(attempt);
        this.emit({ type: 'retry', registry: spec.registry, operation: spec.operation, attempt: attempt + 1, delayMs: delay, reason: describeNetworkError(err) });
        await sleep(delay);
        continue;
      }
      if (res.status === 401 && !authRetried) {
        authRetried = true;
        const before = this.auth.challenged(spec.registry);
        this.auth.setChallenge(spec.registry, res.headers.get('www-authenticate'));
        this.auth.forget(spec.registry, spec.scopes);
        if (this.auth.challenged(spec.registry) && (before || res.headers.get('www-authenticate'))) {
          await drain(res);
          attempt--;
          continue;
        }
      }
      const transient = res.status === 429 || (res.status >= 500 && res.status !== 501 && res.status !== 505);
      if (transient && attempt < retries) {
        const delay = this.delay(attempt, res.headers.get('retry-after'));
        await drain(res);
        this.emit({ type: 'retry', registry: spec.registry, operation: spec.operation, attempt: attempt + 1, delayMs: delay, reason: `status ${res.status}` });
        await sleep(delay);
        continue;
      }
      if ((res.status >= 200 && res.status < 300) || spec.accept?.(res.status)) return res;
      const error = await this.responseError(res, spec);
      if (transient) error.data.attempts = attempt + 1;
      throw error;
    }
  }
}
