#!/usr/bin/env node
/**
 * The `layerkit` command line: argument handling and printing only; every
 * command calls the public API.
 * @module
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { asSystemError, LayerkitError } from '../index.js';
import { commands } from './commands/index.js';
import { HelpRequested, processIo, UsageError, type CliIo } from './io.js';

function version(): string {
  // src/cli/main.ts and dist/cli/main.js both sit two levels below package.json.
  const path = fileURLToPath(new URL('../../package.json', import.meta.url));
  return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
}

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return `Usage: layerkit COMMAND [OPTIONS] [ARGS]

Layered filesystems and container image builds.

Commands:
${lines.join('\n')}

Options:
  --help     show this help, or a command's with layerkit COMMAND --help
  --version  print the version

Exit status: 0 success, 1 invalid input (e.g. a Dockerfile syntax error), 2 bad usage;
run, exec and start -a pass the command's own exit status through, and run
exits 125 when it cannot start the container, as docker does; 70 is a fault
of layerkit itself (LAYERKIT_DEBUG=1 prints its stack).
`;
}

/**
 * Runs `layerkit` with `argv` (the arguments after the program name) and
 * resolves to the exit status.
 *
 * @example
 * ```ts
 * const status = await main(['parse', 'Dockerfile']);
 * ```
 */
export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? io.stderr : io.stdout)(help());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    io.stdout(`layerkit ${version()}\n`);
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    io.stderr(`layerkit: unknown command ${JSON.stringify(name)}\n\n${help()}`);
    return 2;
  }
  // A command that reads no options still answers a leading --help.
  if (rest[0] === '--help' || rest[0] === '-h') {
    io.stdout(command.usage);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof HelpRequested) {
      io.stdout(command.usage);
      return 0;
    }
    if (err instanceof UsageError) {
      io.stderr(`layerkit ${command.name}: ${err.message}\n${err.brief ? '' : `\n${command.usage}`}`);
      return 2;
    }
    // The machine's state (a full disk, a path that is not a directory, a permission) is one line, not a trace.
    const typed = asSystemError(err, command.name);
    if (typed instanceof LayerkitError) {
      const text = typed.message.startsWith(`${command.name}: `) ? typed.message.slice(command.name.length + 2) : typed.message;
      io.stderr(`layerkit ${command.name}: ${text}\n`);
      return 1;
    }
    if (process.env['LAYERKIT_DEBUG']) throw err;
    // A fault of layerkit itself: still one line; LAYERKIT_DEBUG=1 shows the stack.
    io.stderr(`layerkit ${command.name}: internal error: ${err instanceof Error ? err.message : String(err)} (LAYERKIT_DEBUG=1 shows where)\n`);
    return 70;
  }
}

const invokedPath = process.argv[1];
if (invokedPath !== undefined && fileURLToPath(import.meta.url) === (await realpathOf(invokedPath))) {
  process.exitCode = await main(process.argv.slice(2));
}

async function realpathOf(path: string): Promise<string> {
  const { realpath } = await import('node:fs/promises');
  try {
    return await realpath(path);
  } catch {
    return path;
  }
}
