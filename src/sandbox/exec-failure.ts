/**
 * The last host program before a sandboxed command is util-linux `unshare
 * --root`, which execs the command; when that exec fails it prints
 * `unshare: failed to execute NAME: REASON` on what is already the
 * command's stderr. That is the sandbox's own wording, so it is rewritten
 * into the runtime's (`exec: "NAME": executable file not found in $PATH`,
 * as Docker and BuildKit say it) before anyone sees it. Nothing else is
 * touched: only a first line of exactly that form, before the command
 * wrote anything.
 * @module
 */

const PREFIX = 'unshare: failed to execute ';

/**
 * Docker's words for an exec that failed.
 *
 * @example
 * ```ts
 * execFailureMessage('nosuch', 'No such file or directory'); // 'exec: "nosuch": executable file not found in $PATH'
 * ```
 */
export function execFailureMessage(name: string, reason: string): string {
  if (reason === 'No such file or directory') {
    return name.includes('/') ? `exec: "${name}": stat ${name}: no such file or directory` : `exec: "${name}": executable file not found in $PATH`;
  }
  return `exec: "${name}": ${reason.charAt(0).toLowerCase()}${reason.slice(1)}`;
}

/**
 * A filter for the stream a command's stderr arrives on: passes everything
 * through, except a first line that is `unshare`'s exec failure, which it
 * rewrites (keeping the stream's line ending, `\r\n` on a terminal).
 *
 * @example
 * ```ts
 * const filter = execFailureFilter((chunk) => process.stderr.write(chunk));
 * filter.write(Buffer.from('unshare: failed to execute nosuch: No such file or directory\n'));
 * filter.end(); // wrote 'exec: "nosuch": executable file not found in $PATH\n'
 * ```
 */
export function execFailureFilter(emit: (chunk: Buffer) => void): { write(chunk: Buffer): void; end(): void } {
  let held: Buffer | undefined = Buffer.alloc(0);
  const release = (text: Buffer) => {
    held = undefined;
    if (text.length > 0) emit(text);
  };
  return {
    write(chunk) {
      if (held === undefined) return emit(chunk);
      const all = Buffer.concat([held, chunk]);
      const head = all.toString('latin1', 0, Math.min(all.length, PREFIX.length));
      if (!PREFIX.startsWith(head)) return release(all);
      const newline = all.indexOf(0x0a);
      if (newline < 0) {
        held = all;
        return;
      }
      const line = all.subarray(0, newline).toString('utf8').replace(/\r$/, '');
      const ending = all[newline - 1] === 0x0d ? '\r\n' : '\n';
      const match = /^unshare: failed to execute (.*): ([^:]+)$/.exec(line);
      if (!match) return release(all);
      held = undefined;
      emit(Buffer.concat([Buffer.from(execFailureMessage(match[1]!, match[2]!) + ending), all.subarray(newline + 1)]));
    },
    end() {
      if (held !== undefined) release(held);
    },
  };
}
