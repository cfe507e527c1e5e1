/**
 * The terminal behind a {@link CliIo}: whether a stream is one and how big
 * it is, asked of the io itself (tests pose as a terminal) or of the
 * process's own streams.
 * @module
 */
import { processIo, type CliIo } from './io.js';

/**
 * What a command may ask about the terminal, beyond {@link CliIo}. A test
 * io adds these members to pose as a terminal; the process's own io
 * ({@link processIo}) answers from `process.stdout` / `process.stderr`.
 *
 * @example
 * ```ts
 * const io: CliIo & TerminalIo = { ...captured, isTTY: (s) => s === 'stderr', terminalSize: () => ({ columns: 80, rows: 24 }) };
 * ```
 */
export interface TerminalIo {
  isTTY?(stream: 'stdin' | 'stdout' | 'stderr'): boolean;
  terminalSize?(stream: 'stdout' | 'stderr'): { columns: number; rows: number } | undefined;
}

/** The answers of {@link TerminalIo}, always present. */
export interface Terminal {
  isTTY(stream: 'stdin' | 'stdout' | 'stderr'): boolean;
  terminalSize(stream: 'stdout' | 'stderr'): { columns: number; rows: number } | undefined;
}

const processTerminal: Terminal = {
  isTTY: (stream) => (stream === 'stdin' ? process.stdin : stream === 'stdout' ? process.stdout : process.stderr).isTTY === true,
  terminalSize(stream) {
    const out = stream === 'stdout' ? process.stdout : process.stderr;
    return out.isTTY && out.columns ? { columns: out.columns, rows: out.rows } : undefined;
  },
};

/**
 * The terminal behind `io`: its own answers, the process's streams for
 * {@link processIo}, and "not a terminal" for any other io.
 *
 * @example
 * ```ts
 * if (terminalOf(io).isTTY('stdout')) throw new Error('refusing to write a tar to a terminal');
 * ```
 */
export function terminalOf(io: CliIo & TerminalIo): Terminal {
  if (io.isTTY) {
    return {
      isTTY: (stream) => io.isTTY!(stream),
      terminalSize: (stream) => io.terminalSize?.(stream),
    };
  }
  if (io === processIo) return processTerminal;
  return { isTTY: () => false, terminalSize: () => undefined };
}
