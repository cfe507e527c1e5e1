/**
 * ARG and ENV scoping, as BuildKit's Dockerfile frontend does it: the
 * global (meta) scope that FROM lines see, and each stage's variables.
 * docs/dockerfile-instructions.md ("Which variables each instruction sees")
 * states the rules.
 * @module
 */
import type { ArgDefinition, ArgInstruction } from '../dockerfile/instructions/types.js';
import type { ShellLex } from '../dockerfile/shell/lex.js';
import { formatPlatform } from '../image/platform.js';
import type { Platform } from '../image/types.js';

/** The ARG names BuildKit defines itself, in the global scope. */
export const PLATFORM_ARGS = [
  'BUILDPLATFORM',
  'BUILDOS',
  'BUILDOSVERSION',
  'BUILDARCH',
  'BUILDVARIANT',
  'TARGETPLATFORM',
  'TARGETOS',
  'TARGETOSVERSION',
  'TARGETARCH',
  'TARGETVARIANT',
  'TARGETSTAGE',
] as const;

/** BuildKit's default `PATH` for Linux images that set none. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Args that BuildKit accepts without a declaring ARG (proxy settings and its
 * own switches): no "unused build arg" warning for these.
 */
export const BUILTIN_ARGS = new Set([
  'HTTP_PROXY',
  'http_proxy',
  'HTTPS_PROXY',
  'https_proxy',
  'FTP_PROXY',
  'ftp_proxy',
  'NO_PROXY',
  'no_proxy',
  'ALL_PROXY',
  'all_proxy',
  'SOURCE_DATE_EPOCH',
]);

/**
 * An ordered variable list where setting a name again replaces it in place
 * (BuildKit's `EnvList`).
 *
 * It also remembers which names changed since the last
 * {@link VarList.takeChanges}: a step's cache key hashes only those, since
 * its parent's key already stands for the variables before them. Hashing
 * the whole list at every step made 20,000 `ENV` lines quadratic.
 */
export class VarList {
  readonly #map = new Map<string, string>();
  /** Names set (value) or deleted (undefined) since the last takeChanges(), in order. */
  readonly #changes = new Map<string, string | undefined>();
  #list: string[] | undefined;

  constructor(entries: Iterable<readonly [string, string]> = []) {
    for (const [k, v] of entries) this.#map.set(k, v);
  }

  get(name: string): string | undefined {
    return this.#map.get(name);
  }

  has(name: string): boolean {
    return this.#map.has(name);
  }

  set(name: string, value: string): void {
    this.#map.set(name, value);
    this.#changes.delete(name);
    this.#changes.set(name, value);
    this.#list = undefined;
  }

  delete(name: string): void {
    this.#map.delete(name);
    this.#changes.delete(name);
    this.#changes.set(name, undefined);
    this.#list = undefined;
  }

  keys(): string[] {
    return [...this.#map.keys()];
  }

  /** A copy, with the changes not yet taken (a stage built on this one's state starts where it ended). */
  clone(): VarList {
    const copy = new VarList(this.#map);
    for (const [k, v] of this.#changes) copy.#changes.set(k, v);
    return copy;
  }

  /** `K=V` strings in insertion order (one array per version of the list; do not modify it). */
  toList(): string[] {
    this.#list ??= [...this.#map].map(([k, v]) => `${k}=${v}`);
    return this.#list;
  }

  /**
   * The changes since the last call, in order — `K=V` for a name set, `K`
   * for one deleted — and forgets them. Each is taken by exactly one cache
   * lookup, so a step's key covers what changed since its parent's.
   *
   * @example
   * ```ts
   * vars.set('A', '1'); vars.takeChanges(); // ['A=1']
   * vars.takeChanges();                     // []
   * ```
   */
  takeChanges(): string[] {
    const out = [...this.#changes].map(([k, v]) => (v === undefined ? k : `${k}=${v}`));
    this.#changes.clear();
    return out;
  }

  /** From `K=V` strings (an image config's `Env`): later entries win. */
  static fromList(list: readonly string[]): VarList {
    const out = new VarList();
    for (const item of list) {
      const eq = item.indexOf('=');
      if (eq < 0) out.set(item, '');
      else out.set(item.slice(0, eq), item.slice(eq + 1));
    }
    return out;
  }
}

/**
 * The automatic platform args: `BUILD*` from the build platform, `TARGET*`
 * from the target platform, `TARGETSTAGE` the target stage's name.
 */
export function platformArgs(build: Platform, target: Platform, targetStage: string): VarList {
  const values: Record<(typeof PLATFORM_ARGS)[number], string> = {
    BUILDPLATFORM: formatPlatform(build),
    BUILDOS: build.os,
    BUILDOSVERSION: build['os.version'] ?? '',
    BUILDARCH: build.architecture,
    BUILDVARIANT: build.variant ?? '',
    TARGETPLATFORM: formatPlatform(target),
    TARGETOS: target.os,
    TARGETOSVERSION: target['os.version'] ?? '',
    TARGETARCH: target.architecture,
    TARGETVARIANT: target.variant ?? '',
    TARGETSTAGE: targetStage === '' ? 'default' : targetStage,
  };
  return new VarList(PLATFORM_ARGS.map((name) => [name, values[name]] as const));
}

/**
 * The global scope: the platform args (a build arg of the same name
 * overrides them), then each ARG before the first FROM, in order: its build
 * arg if given (not expanded), else its default expanded against the scope
 * so far; an ARG with neither is left unset.
 */
export function metaScope(
  platform: VarList,
  metaArgs: readonly ArgInstruction[],
  buildArgs: ReadonlyMap<string, string>,
  expand: (word: string, env: VarList, instruction: ArgInstruction) => string,
): VarList {
  const scope = platform.clone();
  for (const name of scope.keys()) {
    const override = buildArgs.get(name);
    if (override !== undefined) scope.set(name, override);
  }
  for (const instruction of metaArgs) {
    for (const arg of instruction.args) {
      const given = buildArgs.get(arg.key);
      if (given !== undefined) scope.set(arg.key, given);
      else if (arg.value !== undefined) scope.set(arg.key, expand(arg.value, scope, instruction));
    }
  }
  return scope;
}

/** The value an in-stage ARG takes, and whether it came from the global scope. */
export interface ArgValue {
  value: string | undefined;
  /** Inherited from the global scope (`ARG NAME` redeclaring a meta ARG). */
  inherited: boolean;
}

/**
 * The value of one ARG inside a stage: its build arg if given; else its
 * default expanded against the stage's variables; else the global value of
 * the same name (a redeclared meta or platform arg); else unset.
 */
export function stageArgValue(
  arg: ArgDefinition,
  buildArgs: ReadonlyMap<string, string>,
  global: VarList,
  expandDefault: (word: string) => string,
): ArgValue {
  const given = buildArgs.get(arg.key);
  if (given !== undefined) return { value: given, inherited: false };
  if (arg.value !== undefined) return { value: expandDefault(arg.value), inherited: false };
  const inherited = global.get(arg.key);
  return { value: inherited, inherited: inherited !== undefined };
}

/** Expands a word with BuildKit's lexer, collecting unset names. */
export function expandWord(lex: ShellLex, word: string, env: VarList, unmatched?: Set<string>): string {
  const result = lex.processWordWithMatches(word, { get: (name: string) => env.get(name) });
  if (unmatched) for (const name of result.unmatched) unmatched.add(name);
  return result.word;
}
