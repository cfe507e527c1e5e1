/**
 * Dockerfile text → syntax tree, line for line what BuildKit's
 * `frontend/dockerfile/parser.Parse` does: BOM, directives, escape token,
 * continuations (with comments and empty lines inside them), heredoc bodies,
 * and each instruction's argument rules — plus columns.
 * @module
 */
import { DockerfileSyntaxError, type DockerfileSyntaxErrorData } from '../errors.js';
import { suggest } from '../suggest.js';
import { goToUpper, goTrimSpace, isGoSpace, utf8Length } from './chars.js';
import { DirectiveError, DirectiveReader, escapeTokenFrom } from './directives.js';
import { heredocsOnLine } from './heredoc-words.js';
import { argumentStyle, canHaveHeredocs, INSTRUCTION_KEYWORDS } from './keywords.js';
import { LineParseError, parseLine, type ParsedLine } from './line-parsers.js';
import type { DockerfileAst, Heredoc, InstructionNode, ParseWarning, Position, SourceSegment } from './node.js';

/**
 * Options of {@link parseDockerfile}.
 *
 * @example
 * ```ts
 * parseDockerfile('FORM alpine', { strict: false }).children[0].args; // [''] (BuildKit's parser keeps it)
 * ```
 */
export interface ParseOptions {
  /**
   * Also reject what BuildKit rejects right after parsing, before anything
   * is built: unknown instructions (with a did-you-mean) and ONBUILD
   * triggers that are not allowed (`ONBUILD ONBUILD`, `ONBUILD FROM`,
   * `ONBUILD MAINTAINER`, a bare `ONBUILD`). Default `true`. With `false` the
   * result is exactly BuildKit's parser package's, which keeps an unknown
   * instruction as a node with one empty argument.
   */
  strict?: boolean;
}

/** BuildKit reads lines with a 64 KiB scanner buffer: longer lines are an error. */
const MAX_LINE_BYTES = 65535;
/** Below this many UTF-16 units a line cannot exceed {@link MAX_LINE_BYTES}. */
const SAFE_LINE_UNITS = Math.floor(MAX_LINE_BYTES / 3);

const EMPTY_CONTINUATION_URL = 'https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/';

/** Walks the text one physical line at a time, as BuildKit's `bufio.Scanner` does. */
class Lines {
  /** Start of the current line (after the BOM on line 1). */
  start = 0;
  /** End of the current line's content (line break and trailing `\r`s excluded). */
  end = 0;
  /** Start of the next line. */
  next = 0;
  /** Start of the current line including its BOM, for raw heredoc content. */
  rawStart = 0;
  tooLong = false;

  constructor(readonly text: string) {}

  scan(): boolean {
    const { text } = this;
    const from = this.next;
    if (this.tooLong || from >= text.length) return false;
    const nl = text.indexOf('\n', from);
    const contentEnd = nl < 0 ? text.length : nl;
    if (contentEnd - from > SAFE_LINE_UNITS && utf8Length(text.slice(from, contentEnd)) > MAX_LINE_BYTES) {
      this.tooLong = true;
      return false;
    }
    let end = contentEnd;
    while (end > from && text.charCodeAt(end - 1) === 0x0d) end--;
    this.rawStart = from;
    this.start = from === 0 && text.charCodeAt(0) === 0xfeff ? 1 : from;
    this.end = end;
    this.next = nl < 0 ? text.length : nl + 1;
    return true;
  }
}

/**
 * Parses a Dockerfile into its syntax tree.
 *
 * Every instruction keeps BuildKit's reading of it (see {@link InstructionNode}),
 * so `dumpAst(parseDockerfile(text))` is what BuildKit's `Node.Dump` prints.
 * Malformed input throws {@link DockerfileSyntaxError}, never anything else.
 *
 * @example
 * ```ts
 * const ast = parseDockerfile('FROM alpine\nRUN <<EOF\necho hi\nEOF\n');
 * ast.children[1].keyword;             // 'run'
 * ast.children[1].heredocs[0].content; // 'echo hi\n'
 * ```
 */
export function parseDockerfile(text: string, options: ParseOptions = {}): DockerfileAst {
  const ast = new Parser(text).parse();
  if (options.strict ?? true) checkStrict(ast, text);
  return ast;
}

class Parser {
  private readonly lines: Lines;
  private readonly directives = new DirectiveReader();
  private escapeToken: '\\' | '`' = '\\';
  private escape = 0x5c;
  private currentLine = 0;

  constructor(private readonly text: string) {
    this.lines = new Lines(text);
  }

  parse(): DockerfileAst {
    const { lines, text } = this;
    const children: InstructionNode[] = [];
    const warnings: ParseWarning[] = [];
    let comments: string[] = [];

    while (lines.scan()) {
      const lineStart = lines.start;
      const lineEnd = lines.end;
      let ws = lineStart;
      while (ws < lineEnd && isGoSpace(text.charCodeAt(ws))) ws++;
      const isComment = ws < lineEnd && text.charCodeAt(ws) === 0x23;
      if (isComment) {
        // BuildKit drops the line's first character (usually the `#`) and trims the rest.
        const comment = goTrimSpace(text.slice(lineStart + 1, lineEnd));
        if (comment === '') comments = [];
        else comments.push(comment);
      }
      if (!this.directives.done) {
        try {
          const directive = this.directives.read(text.slice(ws, lineEnd), this.currentLine + 1);
          if (directive) {
            if (directive.name === 'escape') this.setEscape(escapeTokenFrom(directive.value));
            comments.pop();
          }
        } catch (err) {
          // BuildKit reports the line before the directive (it counts after reading).
          if (err instanceof DirectiveError) throw this.error(err.message, Math.max(1, this.currentLine), 1);
          throw err;
        }
      }
      this.currentLine++;
      if (isComment) continue;

      const startLine = this.currentLine;
      let pieceEnd = this.continuationAt(ws, lineEnd);
      let endOfLine = pieceEnd < 0;
      if (endOfLine) {
        if (ws === lineEnd) continue;
        pieceEnd = lineEnd;
      }
      let original = text.slice(ws, pieceEnd);
      const segments: SourceSegment[] = [{ offset: 0, line: startLine, column: ws - lineStart + 1 }];
      let hasEmptyContinuationLine = false;

      while (!endOfLine && lines.scan()) {
        this.currentLine++;
        const s = lines.start;
        const e = lines.end;
        let first = s;
        while (first < e && isGoSpace(text.charCodeAt(first))) first++;
        if (first < e && text.charCodeAt(first) === 0x23) continue;
        if (first === e) {
          hasEmptyContinuationLine = true;
          continue;
        }
        pieceEnd = this.continuationAt(s, e);
        endOfLine = pieceEnd < 0;
        if (endOfLine) pieceEnd = e;
        segments.push({ offset: original.length, line: this.currentLine, column: 1 });
        original += text.slice(s, pieceEnd);
      }

      if (hasEmptyContinuationLine) {
        warnings.push({
          short: 'Empty continuation line found in: ' + original,
          detail: ['Empty continuation lines will become errors in a future release'],
          url: EMPTY_CONTINUATION_URL,
          // BuildKit places it on the instruction's last line.
          range: {
            start: { line: this.currentLine, column: 1 },
            end: { line: this.currentLine, column: Math.max(1, lines.end - lines.start) },
          },
        });
      }

      let parsed: ParsedLine;
      try {
        parsed = parseLine(original, this.escape);
      } catch (err) {
        if (err instanceof LineParseError) throw this.errorAt(err.message, segments, err.offset, startLine);
        throw err;
      }

      const heredocs: Heredoc[] = [];
      if (original.includes('<<') && heredocsAllowed(parsed)) {
        let starts;
        try {
          starts = heredocsOnLine(original);
        } catch (err) {
          if (err instanceof LineParseError) throw this.errorAt(err.message, segments, original.indexOf('<<'), startLine);
          throw err;
        }
        for (const start of starts) {
          const bodyStart = lines.next;
          let bodyEnd = -1;
          while (lines.scan()) {
            this.currentLine++;
            let s = lines.rawStart;
            if (start.chomp) while (s < lines.end && text.charCodeAt(s) === 0x09) s++;
            if (lines.end - s === start.name.length && text.startsWith(start.name, s)) {
              bodyEnd = lines.rawStart;
              break;
            }
          }
          if (bodyEnd < 0) {
            const at = this.positionAt(segments, original.indexOf('<<'));
            throw this.error('unterminated heredoc', startLine, at.line === startLine ? at.column : segments[0]!.column, this.currentLine);
          }
          heredocs.push({ name: start.name, content: text.slice(bodyStart, bodyEnd), expand: start.expand, chomp: start.chomp });
        }
      }

      const endLine = this.currentLine;
      children.push(
        this.node(parsed, original, segments, heredocs, comments, startLine, endLine, {
          line: endLine,
          column: Math.max(1, lines.end - lines.start),
        }),
      );
      comments = [];
    }

    if (children.length === 0) {
      throw this.error('file with no instructions', Math.max(1, this.currentLine), 1);
    }
    if (lines.tooLong) {
      throw this.error(
        `dockerfile line greater than max allowed size of ${MAX_LINE_BYTES}`,
        Math.max(1, this.currentLine),
        1,
      );
    }
    return { children, directives: this.directives.directives, escapeToken: this.escapeToken, warnings };
  }

  private setEscape(token: '\\' | '`'): void {
    this.escapeToken = token;
    this.escape = token.charCodeAt(0);
  }

  /**
   * Where the piece of `[from, to)` ends if it ends with a line continuation
   * (the escape token, then only spaces and tabs, not itself escaped), else -1.
   */
  private continuationAt(from: number, to: number): number {
    const { text } = this;
    let k = to - 1;
    while (k >= from) {
      const c = text.charCodeAt(k);
      if (c !== 0x20 && c !== 0x09) break;
      k--;
    }
    if (k < from || text.charCodeAt(k) !== this.escape) return -1;
    if (k > from && text.charCodeAt(k - 1) === this.escape) return -1;
    return k;
  }

  private node(
    parsed: ParsedLine,
    original: string,
    segments: SourceSegment[],
    heredocs: Heredoc[],
    comments: string[],
    startLine: number,
    endLine: number,
    end: Position,
  ): InstructionNode {
    const node: InstructionNode = {
      keyword: parsed.keyword,
      rawKeyword: parsed.rawKeyword,
      original,
      flags: parsed.flags,
      args: parsed.args,
      json: parsed.json,
      heredocs,
      comments,
      startLine,
      endLine,
      range: { start: { line: startLine, column: segments[0]!.column }, end },
      segments,
    };
    if (parsed.child) {
      const offset = parsed.argsOffset;
      const childOriginal = original.slice(offset);
      const childSegments = shiftSegments(segments, offset, childOriginal.length);
      node.child = this.node(parsed.child, childOriginal, childSegments, [], [], startLine, endLine, end);
      node.child.range.start = { line: childSegments[0]!.line, column: childSegments[0]!.column };
    }
    return node;
  }

  private positionAt(segments: SourceSegment[], offset: number): Position {
    return positionInSegments(segments, offset);
  }

  private errorAt(message: string, segments: SourceSegment[], offset: number, startLine: number): DockerfileSyntaxError {
    const at = positionInSegments(segments, Math.max(0, offset));
    const column = at.line === startLine ? at.column : segments[0]!.column;
    return this.error(message, startLine, column, this.currentLine);
  }

  private error(message: string, line: number, column: number, endLine?: number): DockerfileSyntaxError {
    return syntaxError(this.text, message, line, column, endLine);
  }
}

function heredocsAllowed(parsed: ParsedLine): boolean {
  const target = parsed.keyword === 'onbuild' && parsed.child ? parsed.child : parsed;
  return canHaveHeredocs(target.keyword) && !target.json;
}

function shiftSegments(segments: SourceSegment[], offset: number, length: number): SourceSegment[] {
  const out: SourceSegment[] = [];
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const nextOffset = segments[i + 1]?.offset ?? Infinity;
    if (nextOffset <= offset) continue;
    if (seg.offset <= offset) {
      out.push({ offset: 0, line: seg.line, column: seg.column + (offset - seg.offset) });
    } else if (seg.offset - offset < length) {
      out.push({ offset: seg.offset - offset, line: seg.line, column: seg.column });
    }
  }
  return out;
}

/**
 * The source position of the character at `offset` in an instruction's
 * `original` text, given its segments.
 *
 * @example
 * ```ts
 * const [run] = parseDockerfile('RUN a \\\n  b').children;
 * positionInSegments(run.segments, run.original.indexOf('b')); // { line: 2, column: 3 }
 * ```
 */
export function positionInSegments(segments: readonly SourceSegment[], offset: number): Position {
  let seg = segments[0] ?? { offset: 0, line: 1, column: 1 };
  for (const candidate of segments) {
    if (candidate.offset > offset) break;
    seg = candidate;
  }
  return { line: seg.line, column: seg.column + (offset - seg.offset) };
}

/** The text of 1-based line `line`, without its line break (and without the BOM on line 1). */
export function sourceLineOf(text: string, line: number): string {
  let start = 0;
  for (let i = 1; i < line; i++) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) return '';
    start = nl + 1;
  }
  const nl = text.indexOf('\n', start);
  let end = nl < 0 ? text.length : nl;
  while (end > start && text.charCodeAt(end - 1) === 0x0d) end--;
  if (start === 0 && text.charCodeAt(0) === 0xfeff) start = 1;
  return text.slice(start, Math.max(start, end));
}

function syntaxError(
  text: string,
  message: string,
  line: number,
  column: number,
  endLine?: number,
  suggestion?: string,
): DockerfileSyntaxError {
  const data: DockerfileSyntaxErrorData = { line, column, sourceLine: sourceLineOf(text, line) };
  if (endLine !== undefined && endLine > line) data.endLine = endLine;
  if (suggestion !== undefined) data.suggestion = suggestion;
  return new DockerfileSyntaxError(message, data);
}

/** BuildKit's checks that run on the tree before any instruction is built. */
function checkStrict(ast: DockerfileAst, text: string): void {
  for (const node of ast.children) {
    const { line, column } = node.range.start;
    if (argumentStyle(node.keyword) === undefined) {
      const match = suggest(node.rawKeyword, UPPERCASE_KEYWORDS);
      throw syntaxError(
        text,
        `unknown instruction: ${node.rawKeyword}${match ? ` (did you mean ${match}?)` : ''}`,
        line,
        column,
        node.endLine,
        match,
      );
    }
    if (node.keyword !== 'onbuild') continue;
    if (!node.child) throw syntaxError(text, 'ONBUILD requires at least one argument', line, column, node.endLine);
    const trigger = goToUpper(goTrimSpace(node.child.rawKeyword));
    const at = node.child.range.start;
    if (trigger === 'ONBUILD') {
      throw syntaxError(text, 'Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed', at.line, at.column, node.endLine);
    }
    if (trigger === 'MAINTAINER' || trigger === 'FROM') {
      throw syntaxError(text, `${trigger} isn't allowed as an ONBUILD trigger`, at.line, at.column, node.endLine);
    }
  }
}

const UPPERCASE_KEYWORDS = INSTRUCTION_KEYWORDS.map((k) => k.toUpperCase());
