/**
 * What a command may touch: output streams and file reading, passed in so
 * tests can run commands in-process.
 * @module
 */
import { readFile } from 'node:fs/promises';

/** The outside world of a command. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Reads a file as UTF-8; `-` means standard input. */
  readText(path: string): Promise<string>;
}

/** The process's own streams and file system. */
export const processIo: CliIo = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  readText: async (path) => {
    if (path !== '-') return readFile(path, 'utf8');
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
};

/** A mistake in how the command was called (exit status 2). */
export class UsageError extends Error {
  override name = 'UsageError';
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
 * Splits `--name=value`, `--name value` and bare arguments. `boolean` names
 * take no value. `--` ends the options.
 */
export function parseOptions(
  args: string[],
  spec: { values?: readonly string[]; booleans?: readonly string[] },
): { options: Map<string, string | true>; positional: string[] } {
  const options = new Map<string, string | true>();
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      positional.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--') || arg === '-') {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    if (spec.booleans?.includes(name)) {
      if (eq >= 0) throw new UsageError(`option --${name} takes no value`);
      options.set(name, true);
    } else if (spec.values?.includes(name)) {
      let value = eq < 0 ? args[++i] : arg.slice(eq + 1);
      if (value === undefined) throw new UsageError(`option --${name} needs a value`);
      options.set(name, value);
    } else {
      throw new UsageError(`unknown option --${name}`);
    }
  }
  return { options, positional };
}
