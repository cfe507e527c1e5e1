/**
 * Instruction flags, declared beside each instruction's parser (BuildKit's
 * `bflag.go`): a parser adds the flags it takes, then reads the raw
 * `--name=value` words against them.
 * @module
 */
import { suggest } from '../suggest.js';
import { goToLower } from '../syntax/chars.js';

/** A flag word that cannot be read; `flag` is the word as written, to find it in the source. */
export class FlagError {
  constructor(
    readonly message: string,
    readonly flag: string,
    readonly suggestion?: string,
  ) {}
}

interface FlagDefinition {
  kind: 'bool' | 'string' | 'strings';
  value: string;
  values: string[];
}

/**
 * A flag's value once {@link FlagSet.parse} has run: `value` for string and
 * bool flags (bools hold `"true"`/`"false"`), `values` for repeatable ones.
 */
export interface FlagValue {
  readonly value: string;
  readonly values: readonly string[];
  /** True when the flag appeared at least once. */
  readonly used: boolean;
}

/**
 * The flags one instruction accepts, read from its raw flag words.
 *
 * - `--name=value` for strings; repeating a string or bool flag is an error.
 * - `--name`, `--name=true`, `--name=false` (any case) for bools.
 * - `--name=value` repeatable for string lists.
 * - A bare `--` ends the flags; what follows is ignored, as in BuildKit.
 *
 * @example
 * ```ts
 * const flags = new FlagSet(['--link', '--from=build']);
 * const from = flags.addString('from');
 * const link = flags.addBool('link');
 * flags.parse();
 * from.value; // 'build'
 * link.value; // 'true'
 * ```
 */
export class FlagSet {
  private readonly definitions = new Map<string, FlagDefinition>();
  private readonly usedNames: string[] = [];

  constructor(private readonly words: readonly string[]) {}

  /** Declares a string flag with a default. */
  addString(name: string, defaultValue = ''): FlagValue {
    return this.add(name, 'string', defaultValue);
  }

  /** Declares a bool flag; its value is `"true"` or `"false"`. */
  addBool(name: string, defaultValue = false): FlagValue {
    return this.add(name, 'bool', defaultValue ? 'true' : 'false');
  }

  /** Declares a repeatable string flag. */
  addStrings(name: string): FlagValue {
    return this.add(name, 'strings', '');
  }

  /** Names of the flags that appeared, in order of first appearance. */
  used(): string[] {
    return [...this.usedNames];
  }

  /**
   * Reads the words. Throws {@link FlagError} with BuildKit's message for the
   * first word that does not fit.
   */
  parse(): void {
    for (const word of this.words) {
      if (word === '--') return;
      if (!word.startsWith('--')) throw new FlagError(`arg should start with -- : ${word}`, word);
      const eq = word.indexOf('=');
      const flagName = eq < 0 ? word : word.slice(0, eq);
      const value = eq < 0 ? '' : word.slice(eq + 1);
      const hasValue = eq >= 0;
      const name = flagName.slice(2);
      const flag = this.definitions.get(name);
      if (!flag) {
        const match = suggest(name, [...this.definitions.keys()], { caseSensitive: true });
        const hint = match === undefined ? '' : ` (did you mean ${match}?)`;
        throw new FlagError(`unknown flag: ${flagName}${hint}`, word, match);
      }
      const seen = this.usedNames.includes(name);
      if (seen && flag.kind !== 'strings') throw new FlagError(`duplicate flag specified: ${flagName}`, word);
      if (!seen) this.usedNames.push(name);

      switch (flag.kind) {
        case 'bool': {
          if (hasValue && value === '') throw new FlagError(`missing a value on flag: ${flagName}`, word);
          const lower = goToLower(value);
          if (lower === 'true' || lower === '') flag.value = 'true';
          else if (lower === 'false') flag.value = 'false';
          else throw new FlagError(`expecting boolean value for flag ${flagName}, not: ${value}`, word);
          break;
        }
        case 'string':
          if (!hasValue) throw new FlagError(`missing a value on flag: ${flagName}`, word);
          flag.value = value;
          break;
        case 'strings':
          if (!hasValue) throw new FlagError(`missing a value on flag: ${flagName}`, word);
          flag.values.push(value);
          break;
      }
    }
  }

  private add(name: string, kind: FlagDefinition['kind'], value: string): FlagValue {
    if (this.definitions.has(name)) throw new Error(`flag --${name} declared twice`);
    const definition: FlagDefinition = { kind, value, values: [] };
    this.definitions.set(name, definition);
    const usedNames = this.usedNames;
    return {
      get value() {
        return definition.value;
      },
      get values() {
        return definition.values;
      },
      get used() {
        return usedNames.includes(name);
      },
    };
  }
}
