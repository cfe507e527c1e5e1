/**
 * Image references in Docker's grammar (distribution/reference), normalized
 * the way Docker normalizes them: `busybox` → `docker.io/library/busybox:latest`.
 *
 * ```text
 * reference      := name [ ":" tag ] [ "@" digest ]
 * name           := [domain "/"] path-component ("/" path-component)*
 * domain         := host [":" port]     host: DNS name, IPv4, or [IPv6]
 * path-component := [a-z0-9]+ (separator [a-z0-9]+)*   separator: "." | "_" | "__" | "-"+
 * tag            := [\w][\w.-]{0,127}
 * digest         := algorithm ":" hex
 * ```
 * @module
 */
import { parseDigest, type Digest } from '../digest.js';
import { InvalidReferenceError } from './errors.js';
import { accepts } from '../errors.js';

const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_PREFIX = 'library/';
const DEFAULT_TAG = 'latest';
const MAX_PATH_LENGTH = 255;

const alphanumeric = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const remoteName = `${pathComponent}(?:/${pathComponent})*`;
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domainName = `${domainComponent}(?:\\.${domainComponent})*`;
const ipv6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainAndPort = `(?:${domainName}|${ipv6})(?::[0-9]+)?`;
const tagPattern = '[\\w][\\w.-]{0,127}';
const digestPattern = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';

const REFERENCE = new RegExp(
  `^((?:${domainAndPort}/)?${remoteName})(?::(${tagPattern}))?(?:@(${digestPattern}))?$`,
);
const NAME = new RegExp(`^(?:(${domainAndPort})/)?(${remoteName})$`);
const TAG = new RegExp(`^${tagPattern}$`);
const IDENTIFIER = /^[a-f0-9]{64}$/;
const OCI_REF_NAME = /^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:\/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$/;

/**
 * A parsed, normalized image reference. `domain` and `path` are always set
 * (`docker.io`, `library/busybox`); a reference has a tag, a digest, or —
 * when parsed without the default tag — neither.
 *
 * @example
 * ```ts
 * const ref: ImageReference = parseReference('me/app:1');
 * ref.domain; // 'docker.io'
 * ref.path;   // 'me/app'
 * ```
 */
export interface ImageReference {
  /**
   * Registry host (and port): `docker.io`, `localhost:5000`, `[::1]:5000`. Empty
   * only in the corner Docker's grammar allows, a first component that looks
   * like a host but is not one (`a.b_c/d`).
   */
  readonly domain: string;
  /** Repository path inside the registry: `library/busybox`. */
  readonly path: string;
  /** `domain/path`: `docker.io/library/busybox` (just `path` when `domain` is empty). */
  readonly name: string;
  readonly tag?: string;
  readonly digest?: Digest;
  /** The full normalized string: `docker.io/library/busybox:latest`. */
  readonly canonical: string;
  /** The short form Docker prints: `busybox:latest`, `me/app@sha256:…`. */
  readonly familiar: string;
}

/**
 * Options of {@link parseReference}.
 *
 * @example
 * ```ts
 * parseReference('busybox', { defaultTag: false }).canonical; // 'docker.io/library/busybox'
 * ```
 */
export interface ParseReferenceOptions {
  /** Add `:latest` to a reference with neither tag nor digest (default true, like Docker). */
  defaultTag?: boolean;
}

function splitDockerDomain(name: string): { domain: string; remainder: string } {
  const slash = name.indexOf('/');
  if (slash === -1) return { domain: DEFAULT_DOMAIN, remainder: OFFICIAL_PREFIX + name };
  const maybeDomain = name.slice(0, slash);
  let domain: string;
  let remainder: string;
  if (
    maybeDomain === 'localhost' ||
    /[.:]/.test(maybeDomain) ||
    maybeDomain.toLowerCase() !== maybeDomain
  ) {
    domain = maybeDomain;
    remainder = name.slice(slash + 1);
  } else {
    domain = DEFAULT_DOMAIN;
    remainder = name;
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = OFFICIAL_PREFIX + remainder;
  return { domain, remainder };
}

function familiarPath(domain: string, path: string): string {
  if (domain === '') return path;
  if (domain !== DEFAULT_DOMAIN) return `${domain}/${path}`;
  if (path.startsWith(OFFICIAL_PREFIX) && !path.slice(OFFICIAL_PREFIX.length).includes('/')) {
    return path.slice(OFFICIAL_PREFIX.length);
  }
  return path;
}

function build(domain: string, path: string, tag: string | undefined, digest: Digest | undefined): ImageReference {
  const suffix = `${tag === undefined ? '' : `:${tag}`}${digest === undefined ? '' : `@${digest}`}`;
  // Docker's grammar lets a name whose first component looks like a host but
  // is not a valid one (`a.b_c/d`) parse as a path with no domain.
  const name = domain === '' ? path : `${domain}/${path}`;
  const ref: ImageReference = {
    domain,
    path,
    name,
    ...(tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
    canonical: `${name}${suffix}`,
    familiar: `${familiarPath(domain, path)}${suffix}`,
  };
  return Object.freeze(ref);
}

/**
 * Parses and normalizes a reference the way the Docker CLI does
 * (`ParseDockerRef`): Docker Hub names get `docker.io/` and, for one-component
 * names, `library/`; `index.docker.io` becomes `docker.io`; a reference without
 * tag or digest gets `:latest`; a reference with both keeps only the digest.
 *
 * @throws {@link InvalidReferenceError} with Docker's reason: uppercase
 * repository, bad format, 64-hex name, path over 255 characters, bad digest.
 * @example
 * ```ts
 * parseReference('busybox').canonical;            // 'docker.io/library/busybox:latest'
 * parseReference('localhost:5000/app:1').familiar; // 'localhost:5000/app:1'
 * ```
 */
export function parseReference(input: string, options: ParseReferenceOptions = {}): ImageReference {
  if (input === '') throw new InvalidReferenceError(input, 'repository name must have at least one component');
  if (IDENTIFIER.test(input)) {
    throw new InvalidReferenceError(input, 'cannot specify 64-byte hexadecimal strings as a repository name');
  }
  const { domain: splitDomain, remainder } = splitDockerDomain(input);
  const tagSep = remainder.indexOf(':');
  const remote = tagSep === -1 ? remainder : remainder.slice(0, tagSep);
  if (remote.toLowerCase() !== remote) {
    throw new InvalidReferenceError(input, `repository name (${remote}) must be lowercase`);
  }
  const full = `${splitDomain}/${remainder}`;
  const match = REFERENCE.exec(full);
  if (!match) {
    const lower = full.toLowerCase();
    if (lower !== full && REFERENCE.test(lower)) throw new InvalidReferenceError(input, 'repository name must be lowercase');
    throw new InvalidReferenceError(input, 'invalid reference format');
  }
  const nameMatch = NAME.exec(match[1] ?? '');
  const domain = nameMatch?.[1] ?? '';
  const path = nameMatch?.[2] ?? match[1] ?? '';
  if (path.length > MAX_PATH_LENGTH) {
    throw new InvalidReferenceError(input, `repository name must not be more than ${MAX_PATH_LENGTH} characters`);
  }
  let digest: Digest | undefined;
  if (match[3] !== undefined) {
    try {
      digest = parseDigest(match[3]);
    } catch (err) {
      throw new InvalidReferenceError(input, (err as Error).message);
    }
  }
  let tag = match[2];
  if (digest !== undefined) tag = undefined;
  else if (tag === undefined && options.defaultTag !== false) tag = DEFAULT_TAG;
  return build(domain, path, tag, digest);
}

/**
 * True when `input` parses with {@link parseReference}.
 *
 * @example
 * ```ts
 * isValidReference('alpine:3.20'); // true
 * isValidReference('Alpine');      // false
 * ```
 */
export function isValidReference(input: unknown): input is string {
  return typeof input === 'string' && accepts(parseReference, input);
}

/**
 * True when `tag` is a valid tag: `[\w][\w.-]{0,127}`.
 *
 * @example
 * ```ts
 * isValidTag('1.36.1-glibc'); // true
 * isValidTag('-x');           // false
 * ```
 */
export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

/**
 * Parses a reference that names a tag: the default tag is added, and a
 * digest is refused (`docker tag` refuses to create a tag with a digest).
 *
 * @throws {@link InvalidReferenceError} for an invalid reference or one with a digest.
 * @example
 * ```ts
 * parseTagReference('me/app').canonical; // 'docker.io/me/app:latest'
 * ```
 */
export function parseTagReference(input: string): ImageReference & { readonly tag: string } {
  const ref = parseReference(input);
  if (ref.digest !== undefined || ref.tag === undefined) {
    throw new InvalidReferenceError(input, 'a tag cannot be a digest reference');
  }
  return ref as ImageReference & { tag: string };
}

/**
 * True when `value` is a valid `org.opencontainers.image.ref.name` (the OCI
 * annotations grammar: components of `A-Za-z0-9` joined by `-._:@+` or `--`,
 * separated by `/`).
 *
 * @example
 * ```ts
 * isValidRefName('v1.0');                     // true
 * isValidRefName('example.com/app:1');        // true
 * isValidRefName('bad name');                 // false
 * ```
 */
export function isValidRefName(value: string): boolean {
  return OCI_REF_NAME.test(value);
}
