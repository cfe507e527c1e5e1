/**
 * Instruction flags, declared beside each instruction's parser (BuildKit's
 * `bflag.go`). Each instruction has one {@link FlagTable}, built once when
 * the module loads; reading an instruction's raw `--name=value` words
 * against it gives a plain object of values.
 * @module
 */
import { suggest } from '../suggest.js';
import { goToLower } from '../unicode.js';

/** A flag word that cannot be read; `flag` is the word as written, to find it in the source. */
export class FlagError {
  constructor(
    readonly message: string,
    readonly flag: string,
    readonly suggestion?: string,
  ) {}
}

/** How a flag is written and read. */
export type FlagKind = 'bool' | 'string' | 'strings';

/**
 * One declared flag: its kind, or a string flag with a default other than `""`.
 * Bools default to `false`, repeatable flags to no values.
 */
export type FlagSpec = FlagKind | { readonly kind: 'string'; readonly default: string };

/** The flags of one instruction, by name, in BuildKit's declaration order. */
export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

type ValueOf<S extends FlagSpec> = S extends 'bool' ? boolean : S extends 'strings' ? string[] : string;

/** The value of every declared flag: a string, a boolean, or a fresh list for a repeatable flag. */
export type FlagValues<T extends FlagSpecs> = { -readonly [K in keyof T]: ValueOf<T[K]> };

/** What {@link FlagTable.parse} read. */
export interface ParsedFlags<T extends FlagSpecs> {
  values: FlagValues<T>;
  /** Names of the flags that appeared, in order of first appearance. */
  used: string[];
}

/**
 * The flags one instruction accepts.
 *
 * - `--name=value` for strings; repeating a string or bool flag is an error.
 * - `--name`, `--name=true`, `--name=false` (any case) for bools.
 * - `--name=value` repeatable for string lists.
 * - A bare `--` ends the flags; what follows is ignored, as in BuildKit.
 *
 * A table holds no state of a parse, so one table serves every instruction
 * of its kind.
 *
 * @example
 * ```ts
 * const COPY_FLAGS = new FlagTable({ from: 'string', link: 'bool', exclude: 'strings' });
 * const { values, used } = COPY_FLAGS.parse(['--link', '--from=build']);
 * values.from;  // 'build'
 * values.link;  // true
 * used;         // ['link', 'from']
 * ```
 */
export class FlagTable<T extends FlagSpecs> {
  private readonly kinds = new Map<string, FlagKind>();
  /** Declared names in order: the candidates of a did-you-mean. */
  private readonly names: readonly string[];
  /** Every flag at its default; lists are replaced by fresh arrays in each parse. */
  private readonly defaults: Readonly<Record<string, string | boolean | string[]>>;
  private readonly listNames: readonly string[];

  constructor(specs: T) {
    const defaults: Record<string, string | boolean | string[]> = {};
    const listNames: string[] = [];
    for (const [name, spec] of Object.entries(specs)) {
      const kind = typeof spec === 'string' ? spec : spec.kind;
      this.kinds.set(name, kind);
      if (kind === 'strings') listNames.push(name);
      defaults[name] = kind === 'bool' ? false : kind === 'strings' ? [] : typeof spec === 'string' ? '' : spec.default;
    }
    this.names = [...this.kinds.keys()];
    this.listNames = listNames;
    this.defaults = defaults;
  }

  /**
   * Reads the words. Throws {@link FlagError} with BuildKit's message for the
   * first word that does not fit.
   */
  parse(words: readonly string[]): ParsedFlags<T> {
    const values: Record<string, string | boolean | string[]> = Object.assign({}, this.defaults);
    for (const name of this.listNames) values[name] = [];
    const used: string[] = [];
    for (const word of words) {
      if (word === '--') break;
      if (!word.startsWith('--')) throw new FlagError(`arg should start with -- : ${word}`, word);
      const eq = word.indexOf('=');
      const flagName = eq < 0 ? word : word.slice(0, eq);
      const hasValue = eq >= 0;
      const value = hasValue ? word.slice(eq + 1) : '';
      const name = flagName.slice(2);
      const kind = this.kinds.get(name);
      if (kind === undefined) {
        const match = suggest(name, this.names, { caseSensitive: true });
        const hint = match === undefined ? '' : ` (did you mean ${match}?)`;
        throw new FlagError(`unknown flag: ${flagName}${hint}`, word, match);
      }
      const seen = used.includes(name);
      if (seen && kind !== 'strings') throw new FlagError(`duplicate flag specified: ${flagName}`, word);
      if (!seen) used.push(name);

      if (kind === 'bool') {
        if (hasValue && value === '') throw new FlagError(`missing a value on flag: ${flagName}`, word);
        const lower = goToLower(value);
        if (lower === 'true' || lower === '') values[name] = true;
        else if (lower === 'false') values[name] = false;
        else throw new FlagError(`expecting boolean value for flag ${flagName}, not: ${value}`, word);
        continue;
      }
      if (!hasValue) throw new FlagError(`missing a value on flag: ${flagName}`, word);
      if (kind === 'string') values[name] = value;
      else (values[name] as string[]).push(value);
    }
    return { values: values as FlagValues<T>, used };
  }
}

/** The table of an instruction that takes no flags: any flag word is unknown. */
export const NO_FLAGS = new FlagTable({});
