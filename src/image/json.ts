/**
 * Canonical JSON for image documents, and validating parsers.
 *
 * Digests of manifests and configs are digests of bytes, so the bytes must be
 * the same every time. The encoding follows what Go's `encoding/json` produces
 * for the specification structs, which is what Docker and BuildKit emit:
 *
 * - no insignificant whitespace;
 * - members of a known struct in declaration order (descriptor: mediaType,
 *   digest, size, …), except the top level of an image config, whose members
 *   are sorted by name (BuildKit re-encodes it through a map);
 * - optional members omitted when absent, `null`, `""`, `0`, `false`, `[]`
 *   or `{}` (Go's `omitempty`);
 * - map members (labels, annotations, exposed ports, volumes) and members
 *   unknown to the model sorted by the UTF-8 bytes of their names; unknown
 *   members keep their values (object keys sorted recursively), except
 *   `null`, which the specification reads as absent;
 * - strings escaped as Go does: `<`, `>`, `&`, U+2028 and U+2029 as `\u` escapes,
 *   lone surrogates replaced by U+FFFD.
 * @module
 */
import { InvalidImageError } from './errors.js';
import { parseDigest } from '../digest.js';
import type { Descriptor, History, ImageConfig, ImageIndex, Manifest } from './types.js';

interface Shape {
  /** Member order; for `sorted` shapes only the set of known members. */
  readonly order: readonly string[];
  /** Members emitted even when empty. */
  readonly required?: readonly string[];
  /** All members sorted by name instead of declaration order. */
  readonly sorted?: boolean;
  /** Nested shapes: a Shape, `map` (sorted keys, any values) or `[Shape]` (array of). */
  readonly nested?: Readonly<Record<string, Shape | 'map' | readonly [Shape]>>;
}

const platformShape: Shape = {
  order: ['architecture', 'os', 'os.version', 'os.features', 'variant'],
  required: ['architecture', 'os'],
};

const descriptorShape: Shape = {
  order: ['mediaType', 'digest', 'size', 'urls', 'annotations', 'data', 'platform', 'artifactType'],
  required: ['mediaType', 'digest', 'size'],
  nested: { annotations: 'map', platform: platformShape },
};

const manifestShape: Shape = {
  order: ['schemaVersion', 'mediaType', 'artifactType', 'config', 'layers', 'subject', 'annotations'],
  required: ['schemaVersion', 'config', 'layers'],
  nested: { config: descriptorShape, layers: [descriptorShape], subject: descriptorShape, annotations: 'map' },
};

const indexShape: Shape = {
  order: ['schemaVersion', 'mediaType', 'artifactType', 'manifests', 'subject', 'annotations'],
  required: ['schemaVersion', 'manifests'],
  nested: { manifests: [descriptorShape], subject: descriptorShape, annotations: 'map' },
};

const healthShape: Shape = { order: ['Test', 'Interval', 'Timeout', 'StartPeriod', 'StartInterval', 'Retries'] };

const containerConfigShape: Shape = {
  order: [
    'User',
    'ExposedPorts',
    'Env',
    'Entrypoint',
    'Cmd',
    'Volumes',
    'WorkingDir',
    'Labels',
    'StopSignal',
    'ArgsEscaped',
    'Healthcheck',
    'OnBuild',
    'Shell',
  ],
  nested: { ExposedPorts: 'map', Volumes: 'map', Labels: 'map', Healthcheck: healthShape },
};

const historyShape: Shape = { order: ['created', 'created_by', 'author', 'comment', 'empty_layer'] };

const rootfsShape: Shape = { order: ['type', 'diff_ids'], required: ['type', 'diff_ids'] };

const configShape: Shape = {
  sorted: true,
  order: ['created', 'author', 'architecture', 'os', 'os.version', 'os.features', 'variant', 'config', 'rootfs', 'history'],
  required: ['architecture', 'os', 'rootfs', 'config'],
  nested: { config: containerConfigShape, rootfs: rootfsShape, history: [historyShape] },
};

const encoder = new TextEncoder();

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** A string as Go's encoding/json writes it. */
function encodeString(value: string): string {
  const wellFormed = value.replace(LONE_SURROGATE, '\ufffd');
  return JSON.stringify(wellFormed).replace(/[<>&\u2028\u2029]/g, (c) => {
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

function isEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === '' || value === 0 || value === false) return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.keys(value).length === 0;
  return false;
}

function encodeGeneric(value: unknown, what: string): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return encodeString(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new InvalidImageError(what, `number ${value} cannot be encoded`);
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : encodeGeneric(v, what))).join(',')}]`;
      // A Map, Set or typed array has no own enumerable members to encode: it would become {} and collide.
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) {
        throw new InvalidImageError(what, `a ${(value as object).constructor?.name ?? 'non-plain object'} cannot be encoded as JSON`);
      }
      const keys = Object.keys(value).filter((k) => (value as Record<string, unknown>)[k] !== undefined);
      keys.sort(compareUtf8);
      return `{${keys.map((k) => `${encodeString(k)}:${encodeGeneric((value as Record<string, unknown>)[k], what)}`).join(',')}}`;
    }
    default:
      throw new InvalidImageError(what, `a ${typeof value} cannot be encoded as JSON`);
  }
}

function encodeNested(value: unknown, nested: Shape | 'map' | readonly [Shape] | undefined, what: string): string {
  if (nested === undefined || nested === 'map' || value === null || typeof value !== 'object') {
    return encodeGeneric(value, what);
  }
  if (Array.isArray(nested)) {
    const element = (nested as readonly [Shape])[0];
    if (!Array.isArray(value)) return encodeGeneric(value, what);
    return `[${value.map((v) => (element ? encodeShaped(v, element, what) : encodeGeneric(v, what))).join(',')}]`;
  }
  return encodeShaped(value, nested as Shape, what);
}

function encodeShaped(value: unknown, shape: Shape, what: string): string {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return encodeGeneric(value, what);
  const record = value as Record<string, unknown>;
  const known = new Set(shape.order);
  const required = new Set(shape.required ?? []);
  const present = (k: string): boolean => {
    const v = record[k];
    if (v === undefined) return false;
    if (known.has(k) && !required.has(k)) return !isEmpty(v);
    return true;
  };
  // An unknown member that is null reads as absent (config.md), so it is written as absent.
  const unknown = Object.keys(record)
    .filter((k) => !known.has(k) && record[k] !== undefined && record[k] !== null)
    .sort(compareUtf8);
  const keys = shape.sorted
    ? [...shape.order.filter(present), ...unknown].sort(compareUtf8)
    : [...shape.order.filter(present), ...unknown];
  const members = keys.map((k) => {
    const v = required.has(k) && record[k] === null ? null : record[k];
    return `${encodeString(k)}:${encodeNested(v, shape.nested?.[k], what)}`;
  });
  return `{${members.join(',')}}`;
}

/**
 * Which document {@link canonicalJson} encodes; it decides member order.
 *
 * @example
 * ```ts
 * canonicalJson('descriptor', { size: 2, digest, mediaType }); // members in OCI order
 * ```
 */
export type DocumentKind = 'config' | 'manifest' | 'index' | 'descriptor' | 'history' | 'generic';

const shapes: Record<Exclude<DocumentKind, 'generic'>, Shape> = {
  config: configShape,
  manifest: manifestShape,
  index: indexShape,
  descriptor: descriptorShape,
  history: historyShape,
};

/**
 * Encodes an image document in the canonical form described in this module,
 * as UTF-8 bytes. Equal documents give equal bytes, whatever the insertion
 * order of their members.
 *
 * @example
 * ```ts
 * const bytes = canonicalJson('manifest', manifest);
 * const digest = sha256(bytes);
 * ```
 */
export function canonicalJson(kind: DocumentKind, value: unknown): Uint8Array {
  return encoder.encode(canonicalJsonString(kind, value));
}

/**
 * {@link canonicalJson} as a string.
 *
 * @example
 * ```ts
 * canonicalJsonString('generic', { b: 1, a: '<' }); // '{"a":"\\u003c","b":1}'
 * ```
 */
export function canonicalJsonString(kind: DocumentKind, value: unknown): string {
  return kind === 'generic' ? encodeGeneric(value, 'JSON document') : encodeShaped(value, shapes[kind], kind);
}

const decoder = new TextDecoder('utf-8', { fatal: true });

function parseJsonObject(bytes: Uint8Array | string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(typeof bytes === 'string' ? bytes : decoder.decode(bytes));
  } catch (err) {
    throw new InvalidImageError(what, `not JSON: ${(err as Error).message}`, { cause: err });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidImageError(what, 'not a JSON object');
  }
  return value as Record<string, unknown>;
}

function checkDigest(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new InvalidImageError(what, 'digest is not a string');
  try {
    return parseDigest(value);
  } catch (err) {
    throw new InvalidImageError(what, (err as Error).message, { cause: err });
  }
}

function checkStringMap(value: unknown, what: string): void {
  if (value === undefined || value === null) return;
  if (typeof value !== 'object' || Array.isArray(value)) throw new InvalidImageError(what, 'must be an object');
  for (const v of Object.values(value)) {
    if (typeof v !== 'string') throw new InvalidImageError(what, 'values must be strings');
  }
}

/** Validates a descriptor found inside a parsed document (in place). */
export function checkDescriptor(value: unknown, what: string): Descriptor {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidImageError(what, 'descriptor is not an object');
  }
  const d = value as Record<string, unknown>;
  if (d.mediaType === undefined || d.mediaType === null) d.mediaType = '';
  if (typeof d.mediaType !== 'string') throw new InvalidImageError(what, 'mediaType is not a string');
  checkDigest(d.digest, what);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw new InvalidImageError(what, 'size is not a non-negative integer');
  }
  checkStringMap(d.annotations, `${what} annotations`);
  return d as unknown as Descriptor;
}

/**
 * Parses and checks a manifest. Lenient where real producers are sloppy:
 * a missing or `null` `layers` list reads as empty (moby#47065).
 *
 * @throws {@link InvalidImageError} for anything that is not a schema 2 manifest.
 * @example
 * ```ts
 * const manifest = parseManifest(await image.rawManifest());
 * manifest.layers.length;
 * ```
 */
export function parseManifest(bytes: Uint8Array | string): Manifest {
  const m = parseJsonObject(bytes, 'manifest');
  if (m.schemaVersion !== 2) throw new InvalidImageError('manifest', `schemaVersion is ${String(m.schemaVersion)}, expected 2`);
  if (m.mediaType !== undefined && typeof m.mediaType !== 'string') throw new InvalidImageError('manifest', 'mediaType is not a string');
  if (m.manifests !== undefined) throw new InvalidImageError('manifest', 'is an index (has "manifests")');
  checkDescriptor(m.config, 'manifest config descriptor');
  if (m.layers === undefined || m.layers === null) m.layers = [];
  if (!Array.isArray(m.layers)) throw new InvalidImageError('manifest', 'layers is not an array');
  m.layers.forEach((l, i) => checkDescriptor(l, `manifest layer ${i}`));
  checkStringMap(m.annotations, 'manifest annotations');
  return m as unknown as Manifest;
}

/**
 * Parses and checks an image index (or Docker manifest list). A `null`
 * `manifests` list reads as empty (moby#47210).
 *
 * @throws {@link InvalidImageError} for anything that is not a schema 2 index.
 * @example
 * ```ts
 * const index = parseIndex(await readFile('layout/index.json'));
 * index.manifests.map((d) => d.digest);
 * ```
 */
export function parseIndex(bytes: Uint8Array | string): ImageIndex {
  const m = parseJsonObject(bytes, 'index');
  if (m.schemaVersion !== 2) throw new InvalidImageError('index', `schemaVersion is ${String(m.schemaVersion)}, expected 2`);
  if (m.manifests === undefined || m.manifests === null) m.manifests = [];
  if (!Array.isArray(m.manifests)) throw new InvalidImageError('index', 'manifests is not an array');
  m.manifests.forEach((d, i) => checkDescriptor(d, `index entry ${i}`));
  checkStringMap(m.annotations, 'index annotations');
  return m as unknown as ImageIndex;
}

function checkStringArray(value: unknown, what: string): void {
  if (value === undefined || value === null) return;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new InvalidImageError(what, 'must be an array of strings');
  }
}

/**
 * Parses and checks an image config. Unknown members are kept; optional
 * members that are `null` read as absent; `rootfs.type` must be `layers`.
 *
 * @throws {@link InvalidImageError} for a config the OCI spec says to reject.
 * @example
 * ```ts
 * const config = parseImageConfig(await image.rawConfig());
 * config.rootfs.diff_ids;
 * ```
 */
export function parseImageConfig(bytes: Uint8Array | string): ImageConfig {
  const c = parseJsonObject(bytes, 'image config');
  for (const key of Object.keys(c)) if (c[key] === null && key !== 'rootfs') delete c[key];
  if (c.architecture === undefined) c.architecture = '';
  if (c.os === undefined) c.os = '';
  if (typeof c.architecture !== 'string' || typeof c.os !== 'string') {
    throw new InvalidImageError('image config', 'architecture and os must be strings');
  }
  for (const key of ['created', 'author', 'variant', 'os.version'] as const) {
    if (c[key] !== undefined && typeof c[key] !== 'string') throw new InvalidImageError('image config', `${key} is not a string`);
  }
  const rootfs = c.rootfs as Record<string, unknown> | null | undefined;
  if (rootfs === null || typeof rootfs !== 'object' || Array.isArray(rootfs)) {
    throw new InvalidImageError('image config', 'rootfs is missing');
  }
  if (rootfs.type !== 'layers') throw new InvalidImageError('image config', `rootfs.type is ${JSON.stringify(rootfs.type)}, expected "layers"`);
  if (rootfs.diff_ids === undefined || rootfs.diff_ids === null) rootfs.diff_ids = [];
  if (!Array.isArray(rootfs.diff_ids)) throw new InvalidImageError('image config', 'rootfs.diff_ids is not an array');
  rootfs.diff_ids.forEach((d, i) => checkDigest(d, `image config rootfs.diff_ids[${i}]`));
  if (c.config !== undefined) {
    if (typeof c.config !== 'object' || Array.isArray(c.config)) throw new InvalidImageError('image config', 'config is not an object');
    const cc = c.config as Record<string, unknown>;
    for (const key of Object.keys(cc)) if (cc[key] === null) delete cc[key];
    for (const key of ['Env', 'Entrypoint', 'Cmd', 'OnBuild', 'Shell']) checkStringArray(cc[key], `image config config.${key}`);
    checkStringMap(cc.Labels, 'image config config.Labels');
  }
  if (c.history !== undefined) {
    if (!Array.isArray(c.history)) throw new InvalidImageError('image config', 'history is not an array');
    c.history.forEach((h: unknown, i) => {
      if (h === null || typeof h !== 'object' || Array.isArray(h)) {
        throw new InvalidImageError('image config', `history[${i}] is not an object`);
      }
      const entry = h as History;
      if (entry.empty_layer !== undefined && entry.empty_layer !== null && typeof entry.empty_layer !== 'boolean') {
        throw new InvalidImageError('image config', `history[${i}].empty_layer is not a boolean`);
      }
    });
  }
  return c as ImageConfig;
}

/**
 * Formats a time as RFC 3339 the way Go does (`2024-05-01T12:00:00Z`, fraction
 * only when non-zero, trailing zeros trimmed).
 *
 * @example
 * ```ts
 * formatTimestamp(new Date(0)); // '1970-01-01T00:00:00Z'
 * ```
 */
export function formatTimestamp(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new InvalidImageError('timestamp', 'invalid date');
  return date.toISOString().replace(/\.(\d*?)0*Z$/, (_, frac: string) => (frac ? `.${frac}Z` : 'Z'));
}
