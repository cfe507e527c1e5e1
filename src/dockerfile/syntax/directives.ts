/**
 * Parser directives (`# syntax=`, `# escape=`, `# check=`): comment lines at
 * the very top of a Dockerfile, read as BuildKit's `DirectiveParser` reads
 * them. The first line that is not a directive ends the block, whatever it is
 * (an instruction, a plain comment, a blank line).
 * @module
 */
import { isGoSpace } from './chars.js';
import type { Directive } from './node.js';

const DIRECTIVE = /^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*([^\n]+?)[\t\n\f\r ]*$/;
const KNOWN = new Set(['syntax', 'escape', 'check']);

/** A directive problem: a repeated directive or a bad escape token. */
export class DirectiveError {
  constructor(readonly message: string) {}
}

/** Reads directives line by line until the block ends. */
export class DirectiveReader {
  done = false;
  readonly directives: Directive[] = [];
  private readonly seen = new Set<string>();

  /**
   * Looks at one line (leading white space already removed). Returns the
   * directive it holds, or undefined; throws {@link DirectiveError}.
   */
  read(text: string, line: number): Directive | undefined {
    if (this.done) return undefined;
    if (text.charCodeAt(0) !== 0x23 /* # */) {
      this.done = true;
      return undefined;
    }
    let i = 1;
    while (i < text.length && isGoSpace(text.charCodeAt(i))) i++;
    const match = DIRECTIVE.exec(text.slice(i));
    const name = match?.[1]?.toLowerCase();
    if (!match || name === undefined || !KNOWN.has(name)) {
      this.done = true;
      return undefined;
    }
    if (this.seen.has(name)) throw new DirectiveError(`only one ${name} parser directive can be used`);
    this.seen.add(name);
    const directive: Directive = { name, value: match[2]!, line };
    this.directives.push(directive);
    return directive;
  }
}

/** Checks an `escape` directive's value: only `\` and `` ` `` are allowed. */
export function escapeTokenFrom(value: string): '\\' | '`' {
  if (value !== '`' && value !== '\\') {
    throw new DirectiveError(`invalid escape token '${value}' does not match \` or \\`);
  }
  return value;
}
