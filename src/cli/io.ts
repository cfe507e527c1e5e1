/**
 * What a command may touch: output streams and file reading, passed in so
 * tests can run commands in-process.
 * @module
 */
import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';

/** The outside world of a command. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Reads a file as UTF-8; `-` means standard input. */
  readText(path: string): Promise<string>;
  /** Raw bytes for stdout or stderr (a container's output); without it, bytes are decoded as UTF-8 and passed to `stdout`/`stderr`. */
  write?(stream: 'stdout' | 'stderr', bytes: Uint8Array): void;
  /** Standard input as a stream (`run -i`, `exec -i`); without it, those commands read nothing. */
  readonly stdin?: Readable;
}

/** The process's own streams and file system. */
export const processIo: CliIo = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  write: (stream, bytes) => void (stream === 'stdout' ? process.stdout : process.stderr).write(bytes),
  // A getter: process.stdin is only opened by a command that reads it.
  get stdin() {
    return process.stdin;
  },
  readText: async (path) => {
    if (path !== '-') return readFile(path, 'utf8');
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
};

/**
 * `--help` (or `-h` where the command gives `-h` no other meaning) met as an
 * option: the command's usage is the answer. Raised by {@link parseFlags},
 * so a `-h` that is a value or part of a container's command stays theirs.
 */
export class HelpRequested extends Error {
  override name = 'HelpRequested';
}

/** A mistake in how the command was called (exit status 2). */
export class UsageError extends Error {
  override name = 'UsageError';
  /** Say only the message: the usage text would not help (a flag layerkit does not have by design). */
  readonly brief: boolean;

  constructor(message: string, options: { brief?: boolean } = {}) {
    super(message);
    this.brief = options.brief === true;
  }
}

/** One subcommand of `layerkit`. */
export interface Command {
  name: string;
  /** One line for `layerkit --help`. */
  summary: string;
  /** The full usage text for `layerkit COMMAND --help`. */
  usage: string;
  /** Runs with the arguments after the command name; resolves to the exit status. */
  run(args: string[], io: CliIo): Promise<number>;
}

/**
 * One option of {@link parseFlags}.
 *
 * @example
 * ```ts
 * const env: FlagSpec = { name: 'env', short: 'e', value: true, repeat: true };
 * ```
 */
export interface FlagSpec {
  /** The long name, `--name`. */
  name: string;
  /** A one-letter alias, `-n`; boolean ones can be grouped (`-dit`). */
  short?: string;
  /** Takes a value (`--name V`, `--name=V`, `-n V`, `-nV`); else a boolean (`--rm`, `--rm=false`). */
  value?: boolean;
  /** May be given several times (values kept in order); else the last one wins. */
  repeat?: boolean;
  /**
   * A Docker flag layerkit does not have by design, and why: using it is a
   * one-line error (`--privileged is not supported: …`), not the whole usage.
   */
  unsupported?: string;
}

/**
 * Docker flags that cannot mean anything here, declared so that using one
 * says so in one line. `value` tells whether the flag takes a value, so
 * that the rest of the command line is not misread before the error.
 *
 * @example
 * ```ts
 * parseFlags(args, [...RUN_FLAGS, ...unsupportedFlags({ privileged: [false, 'the sandbox grants no extra privileges'] })]);
 * ```
 */
export function unsupportedFlags(table: Record<string, [value: boolean, why: string, short?: string]>): FlagSpec[] {
  return Object.entries(table).map(([name, [value, why, short]]) => ({ name, value, unsupported: why, ...(short ? { short } : {}) }));
}

function refuse(spec: FlagSpec, shown: string): never {
  throw new UsageError(`${shown} is not supported: ${spec.unsupported}`, { brief: true });
}

/** What {@link parseFlags} found. */
export class Flags {
  readonly #values = new Map<string, string[]>();

  /** @internal */
  add(name: string, value: string, repeat: boolean): void {
    this.#values.set(name, repeat ? [...(this.#values.get(name) ?? []), value] : [value]);
  }

  /** A boolean option's value (false when absent). */
  has(name: string): boolean {
    return this.#values.get(name)?.at(-1) === 'true';
  }

  /** Whether the option was given at all. */
  given(name: string): boolean {
    return this.#values.has(name);
  }

  /** A value option's (last) value. */
  get(name: string): string | undefined {
    return this.#values.get(name)?.at(-1);
  }

  /** Every value of a repeatable option, in order. */
  all(name: string): string[] {
    return this.#values.get(name) ?? [];
  }
}

/**
 * Docker-style options: long (`--name V`, `--name=V`) and short (`-n V`,
 * `-nV`, grouped booleans `-dit`) forms, booleans with an optional
 * `=true|false`. `--` ends the options; so does the first positional
 * argument when `interspersed` is false (`run IMAGE CMD…`: what follows the
 * image belongs to the command).
 *
 * @example
 * ```ts
 * const { flags, positional } = parseFlags(['-it', '-e', 'A=1', 'img', 'sh', '-c', 'x'], [
 *   { name: 'interactive', short: 'i' }, { name: 'tty', short: 't' }, { name: 'env', short: 'e', value: true, repeat: true },
 * ], { interspersed: false });
 * flags.has('tty'); // true
 * positional; // ['img', 'sh', '-c', 'x']
 * ```
 */
export function parseFlags(args: string[], specs: readonly FlagSpec[], options: { interspersed?: boolean } = {}): { flags: Flags; positional: string[] } {
  const flags = new Flags();
  const positional: string[] = [];
  const byLong = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const setBoolean = (spec: FlagSpec, text: string | undefined, shown: string) => {
    if (text !== undefined && text !== 'true' && text !== 'false') throw new UsageError(`invalid value ${JSON.stringify(text)} for ${shown}: expected true or false`);
    flags.add(spec.name, text ?? 'true', false);
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      positional.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      if (options.interspersed === false) {
        positional.push(...args.slice(i));
        break;
      }
      positional.push(arg);
      continue;
    }
    if (arg === '--help' || (arg === '-h' && !byShort.has('h'))) throw new HelpRequested('help requested');
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      const spec = byLong.get(name);
      if (!spec) throw new UsageError(`unknown flag: --${name}`);
      if (spec.unsupported !== undefined) refuse(spec, `--${name}`);
      if (!spec.value) {
        setBoolean(spec, eq < 0 ? undefined : arg.slice(eq + 1), `--${name}`);
        continue;
      }
      const value = eq < 0 ? args[++i] : arg.slice(eq + 1);
      if (value === undefined) throw new UsageError(`flag needs an argument: --${name}`);
      flags.add(spec.name, value, spec.repeat === true);
      continue;
    }
    // -abc: booleans, until one that takes a value (the rest of the word, or the next argument).
    for (let j = 1; j < arg.length; j++) {
      const letter = arg[j]!;
      const spec = byShort.get(letter);
      if (!spec) throw new UsageError(`unknown shorthand flag: '${letter}' in ${arg}`);
      if (spec.unsupported !== undefined) refuse(spec, `-${letter}`);
      if (!spec.value) {
        if (arg[j + 1] === '=') {
          setBoolean(spec, arg.slice(j + 2), `-${letter}`);
          break;
        }
        setBoolean(spec, undefined, `-${letter}`);
        continue;
      }
      let value = arg.slice(j + 1);
      if (value.startsWith('=')) value = value.slice(1);
      else if (value === '') {
        const next = args[++i];
        if (next === undefined) throw new UsageError(`flag needs an argument: '${letter}' in -${letter}`);
        value = next;
      }
      flags.add(spec.name, value, spec.repeat === true);
      break;
    }
  }
  return { flags, positional };
}
