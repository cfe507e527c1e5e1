/**
 * `RUN --mount=…` values, read as BuildKit's `commands_runmount.go` reads
 * them: one CSV record of `key=value` fields (plus the bare `ro`, `rw`,
 * `required`), every value expanded with the stage's variables first.
 * @module
 */
import { goQuote } from '../shell/runes.js';
import { suggest } from '../suggest.js';
import { goToLower } from '../unicode.js';
import { csvFields, GoValueError, parseGoBool, parseGoUint32, ramInBytes } from './go-values.js';
import type { Mount, MountSharing, MountType } from './types.js';

/** A `--mount` (or `--device`) value BuildKit rejects; `message` is BuildKit's text. */
export class MountError {
  constructor(
    readonly message: string,
    readonly suggestion?: string,
  ) {}
}

const MOUNT_TYPES: readonly MountType[] = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'];
const SHARING_MODES: readonly MountSharing[] = ['shared', 'private', 'locked'];
const ALL_KEYS = [
  'type', 'from', 'source', 'target', 'readonly', 'id', 'sharing', 'required', 'size', 'mode', 'uid', 'gid',
  'src', 'dst', 'destination', 'ro', 'rw', 'readwrite', 'env',
];
/** Keys whose values are plain strings: as written they are still meaningful. */
const STRING_KEYS = new Set(['from', 'source', 'src', 'target', 'dst', 'destination', 'id', 'env']);

function fields(spec: string): string[] {
  try {
    return csvFields(spec);
  } catch (err) {
    if (err instanceof GoValueError) throw new MountError(`failed to parse csv mounts: ${err.message}`);
    throw err;
  }
}

function withSuggestion(message: string, value: string, candidates: readonly string[]): MountError {
  const match = suggest(value, candidates, { caseSensitive: true });
  return new MountError(match === undefined ? message : `${message} (did you mean ${match}?)`, match);
}

function cut(field: string): [key: string, value: string, hasValue: boolean] {
  const eq = field.indexOf('=');
  if (eq < 0) return [goToLower(field), '', false];
  return [goToLower(field.slice(0, eq)), field.slice(eq + 1), true];
}

/**
 * The checks BuildKit makes when it parses the instruction, before any
 * variable is known: the CSV syntax, and no variables in `from=`.
 */
export function checkMountSyntax(spec: string): void {
  for (const field of fields(spec)) {
    const [key, value, hasValue] = cut(field);
    if (!hasValue || key !== 'from') continue;
    const dollar = value.indexOf('$');
    if (dollar !== -1 && dollar !== value.length - 1) {
      throw new MountError(`'${key}' doesn't support variable expansion, define alias stage instead`);
    }
  }
}

/** How {@link readMount} treats values. */
export type MountValues =
  /** Expand each value first (BuildKit at build time). */
  | { expand: (word: string) => string }
  /** Take values as written; those `needsExpansion` says would change are left for later. */
  | { needsExpansion: (value: string) => boolean };

/**
 * Reads one `--mount` value into a {@link Mount}, with every check and
 * message of BuildKit's `parseMount`.
 * @throws {MountError}
 */
export function readMount(spec: string, values: MountValues): Mount {
  const expand = 'expand' in values ? values.expand : undefined;
  const needsExpansion = 'needsExpansion' in values ? values.needsExpansion : () => false;
  const mount: Mount = { type: 'bind', readOnly: false, required: false };
  const unexpanded: string[] = [];
  let typeKnown = true;
  let typedPending = false;
  let roAuto = true;
  const secretOrSsh = () => mount.type === 'secret' || mount.type === 'ssh';
  const wrongType = (key: string) => new MountError(`unexpected key '${key}' for mount type '${mount.type}'`);

  for (const field of fields(spec)) {
    let [key, value, hasValue] = cut(field);
    if (!hasValue) {
      switch (key) {
        case 'readonly':
        case 'ro':
          mount.readOnly = true;
          roAuto = false;
          continue;
        case 'readwrite':
        case 'rw':
          mount.readOnly = false;
          roAuto = false;
          continue;
        case 'required':
          if (!typeKnown) {
            mount.required = true;
            continue;
          }
          if (!secretOrSsh()) throw wrongType(key);
          mount.required = true;
          continue;
        default:
          throw new MountError(`invalid field '${field}' must be a key=value pair`);
      }
    }

    if (expand) value = expand(value);
    else if (needsExpansion(value)) {
      if (!ALL_KEYS.includes(key)) throw unexpectedKey(key, field);
      unexpanded.push(key);
      if (STRING_KEYS.has(key)) assignString(mount, key, value);
      else {
        typedPending = true;
        if (key === 'type') typeKnown = false;
      }
      continue;
    }

    /** The value read by `parse`, or BuildKit's error for the key. */
    const parsed = <V>(parse: (text: string) => V | undefined): V => {
      const result = parse(value);
      if (result === undefined) throw new MountError(`invalid value for ${key}: ${value}`);
      return result;
    };
    /** The value, lower-cased, if it is one of `allowed`; else BuildKit's error with a suggestion. */
    const oneOf = <V extends string>(allowed: readonly V[], what: string): V => {
      const lower = goToLower(value);
      if (!(allowed as readonly string[]).includes(lower)) throw withSuggestion(`unsupported ${what} ${goQuote(value)}`, value, allowed);
      return lower as V;
    };
    switch (key) {
      case 'type':
        mount.type = oneOf<MountType>(MOUNT_TYPES, 'mount type');
        break;
      case 'readonly':
      case 'ro':
      case 'readwrite':
      case 'rw': {
        const flag = parsed(parseGoBool);
        mount.readOnly = key === 'readonly' || key === 'ro' ? flag : !flag;
        roAuto = false;
        break;
      }
      case 'required':
        if (typeKnown && !secretOrSsh()) throw wrongType(key);
        mount.required = parsed(parseGoBool);
        break;
      case 'size':
        if (typeKnown && mount.type !== 'tmpfs') throw wrongType(key);
        mount.sizeLimit = parsed(ramInBytes);
        break;
      case 'sharing':
        mount.sharing = oneOf<MountSharing>(SHARING_MODES, 'sharing value');
        break;
      case 'mode':
      case 'uid':
      case 'gid': {
        const number = parseGoUint32(value, key === 'mode' ? 8 : 10);
        if (number === undefined) throw new MountError(`invalid value ${value} for ${key}`);
        mount[key] = number;
        break;
      }
      default:
        if (STRING_KEYS.has(key)) assignString(mount, key, value);
        else throw unexpectedKey(key, field);
    }
  }

  if (unexpanded.length > 0) mount.unexpanded = unexpanded;
  if (typedPending) {
    // Defaults and cross-checks wait until the values are known.
    if (roAuto && typeKnown) mount.readOnly = !(mount.type === 'cache' || mount.type === 'tmpfs');
    return mount;
  }
  validate(mount, roAuto);
  return mount;
}

function unexpectedKey(key: string, field: string): MountError {
  return withSuggestion(`unexpected key '${key}' in '${field}'`, key, ALL_KEYS);
}

function assignString(mount: Mount, key: string, value: string): void {
  // An empty value means "not set", as the empty string does in BuildKit;
  // `env=` is the exception: present-but-empty asks for the default name.
  if (key === 'env') {
    mount.env = value;
    return;
  }
  const field = key === 'src' ? 'source' : key === 'dst' || key === 'destination' ? 'target' : key;
  const name = field as 'from' | 'source' | 'target' | 'id';
  if (value === '') delete mount[name];
  else mount[name] = value;
}

function validate(mount: Mount, roAuto: boolean): void {
  const fileInfoAllowed = mount.type === 'secret' || mount.type === 'ssh' || mount.type === 'cache';
  if (!fileInfoAllowed) {
    for (const key of ['mode', 'uid', 'gid'] as const) {
      if (mount[key] !== undefined) throw new MountError(`${key} not allowed for ${goQuote(mount.type)} type mounts`);
    }
  }
  if (roAuto) mount.readOnly = !(mount.type === 'cache' || mount.type === 'tmpfs');
  if (mount.type === 'secret') {
    if (mount.from) throw new MountError('secret mount should not have a from');
    if (mount.sharing) throw new MountError('secret mount should not define sharing');
    if (!mount.source && !mount.target && !mount.id) {
      throw new MountError('invalid secret mount. one of source, target required');
    }
    if (mount.source && mount.id) throw new MountError("both source and id can't be set");
  }
  if (mount.sharing && mount.type !== 'cache') throw new MountError(`invalid cache sharing set for ${mount.type} mount`);
}
