/**
 * What an instruction parser knows about the node it reads, and how it turns
 * a problem into a {@link DockerfileSyntaxError} at the right place.
 * @module
 */
import { DockerfileSyntaxError, type DockerfileSyntaxErrorData } from '../errors.js';
import { goTrimSpace } from '../syntax/chars.js';
import { positionInSegments } from '../syntax/index.js';
import { sourceLineOf } from '../syntax/parser.js';
import type { InstructionNode, Position } from '../syntax/node.js';
import { FlagError, NO_FLAGS, type FlagSpecs, type FlagTable, type ParsedFlags } from './flags.js';
import type { InstructionBase, InstructionKind } from './types.js';

/**
 * Options of {@link parseInstruction} and {@link parseInstructions}.
 * @example
 * ```ts
 * const text = await readFile('Dockerfile', 'utf8');
 * parseInstructions(parseDockerfile(text), { source: text }); // errors quote the exact line
 * ```
 */
export interface ParseInstructionOptions {
  /**
   * The Dockerfile text the nodes came from. Errors then show the exact
   * source line; without it they show the instruction's own text.
   */
  source?: string;
  /**
   * The escape token in force (`# escape=`), `\` by default;
   * {@link parseInstructions} takes it from the tree.
   */
  escapeToken?: '\\' | '`';
}

/** The node being read, with helpers shared by every instruction parser. */
export class InstructionContext {
  readonly escapeToken: '\\' | '`';

  constructor(
    readonly node: InstructionNode,
    readonly options: ParseInstructionOptions = {},
  ) {
    this.escapeToken = options.escapeToken ?? '\\';
  }

  get args(): readonly string[] {
    return this.node.args;
  }

  /**
   * The fields every instruction carries. Parsers add theirs with
   * `Object.assign`, not with an object spread: in V8 (Node 20) an object
   * made by `{ ...base, more }` gets a hidden class of its own each time,
   * which made reading a large Dockerfile several times slower.
   */
  base<Kind extends InstructionKind>(kind: Kind): InstructionBase<Kind> {
    const { node } = this;
    return {
      kind,
      keyword: node.rawKeyword,
      original: goTrimSpace(node.original),
      range: node.range,
      startLine: node.startLine,
      endLine: node.endLine,
      comments: node.comments,
      flags: node.flags,
    };
  }

  /** Reads the node's flag words against `table`, turning a bad flag word into a positioned error. */
  parseFlags<T extends FlagSpecs>(table: FlagTable<T>): ParsedFlags<T> {
    try {
      return table.parse(this.node.flags);
    } catch (err) {
      if (err instanceof FlagError) throw this.flagError(err);
      throw err;
    }
  }

  /** For an instruction that takes no flags: any flag word given is an error. */
  rejectFlags(): void {
    if (this.node.flags.length > 0) this.parseFlags(NO_FLAGS);
  }

  /** An error about the whole instruction, placed at its keyword. */
  error(message: string, suggestion?: string): DockerfileSyntaxError {
    return this.errorAt(this.node.range.start, message, suggestion);
  }

  /** An error about one flag word, placed at that flag when it can be found. */
  flagError(err: FlagError): DockerfileSyntaxError {
    return this.errorAt(this.flagPosition(err.flag), err.message, err.suggestion);
  }

  /**
   * An error about a flag by name (`mount`, `network`), placed at its
   * `occurrence`-th use (0-based; for repeatable flags).
   */
  errorAtFlag(name: string, message: string, suggestion?: string, occurrence = 0): DockerfileSyntaxError {
    const uses = this.node.flags.filter((f) => f === `--${name}` || f.startsWith(`--${name}=`));
    const word = uses[occurrence] ?? uses[0];
    return this.errorAt(word === undefined ? this.node.range.start : this.flagPosition(word, occurrence), message, suggestion);
  }

  /** An error about an argument, placed at its first occurrence after the flags. */
  errorAtArg(arg: string, message: string): DockerfileSyntaxError {
    const { node } = this;
    const afterKeyword = node.rawKeyword.length;
    const offset = arg === '' ? -1 : node.original.indexOf(arg, afterKeyword);
    const at = offset < 0 ? node.range.start : positionInSegments(node.segments, offset);
    return this.errorAt(at, message);
  }

  /**
   * Where a flag word is in the source. The n-th flag word with this name is
   * the n-th `--name` in the text; without `occurrence` the word's first
   * appearance decides n.
   */
  private flagPosition(word: string, occurrence?: number): Position {
    const { node } = this;
    const eq = word.indexOf('=');
    const name = eq < 0 ? word : word.slice(0, eq);
    if (occurrence === undefined) {
      const index = node.flags.indexOf(word);
      occurrence = 0;
      for (let i = 0; i < index; i++) {
        const other = node.flags[i]!;
        if (other === name || other.startsWith(name + '=')) occurrence++;
      }
    }
    let offset = node.rawKeyword.length - 1;
    for (let n = 0; n <= occurrence; n++) {
      offset = node.original.indexOf(name, offset + 1);
      if (offset < 0) return node.range.start;
    }
    return positionInSegments(node.segments, offset);
  }

  private errorAt(at: Position, message: string, suggestion?: string): DockerfileSyntaxError {
    const data: DockerfileSyntaxErrorData = {
      line: at.line,
      column: at.column,
      sourceLine: this.sourceLine(at.line),
    };
    if (this.node.endLine > at.line) data.endLine = this.node.endLine;
    if (suggestion !== undefined) data.suggestion = suggestion;
    return new DockerfileSyntaxError(message, data);
  }

  private sourceLine(line: number): string {
    const { source } = this.options;
    if (source !== undefined) return sourceLineOf(source, line);
    // Without the text, rebuild the line from the instruction's own pieces.
    const { segments, original } = this.node;
    const index = segments.findIndex((s) => s.line === line);
    if (index < 0) return original.split('\n', 1)[0] ?? '';
    const segment = segments[index]!;
    const end = segments[index + 1]?.offset ?? original.length;
    return ' '.repeat(segment.column - 1) + original.slice(segment.offset, end);
  }
}
