/**
 * Syntax tree → Dockerfile text.
 *
 * For an instruction whose `original` still says what its fields say (every
 * instruction `parseDockerfile` returns, until someone edits it), the printer
 * writes that text back on its original lines: the segments tell where the
 * line continuations were. For an edited or hand-built instruction it writes
 * a canonical form from keyword, flags and arguments. Either way the output
 * parses back to the same BuildKit dump.
 * @module
 */
import { goTrimSpace, isGoSpace } from './syntax/chars.js';
import { heredocsOnLine } from './syntax/heredoc-words.js';
import { canHaveHeredocs } from './syntax/keywords.js';
import { parseLine, type ParsedLine } from './syntax/line-parsers.js';
import type { DockerfileAst, InstructionNode } from './syntax/node.js';
import { endsWithContinuation, writeInstructionLine } from './syntax/write-node.js';

const DIRECTIVE_LIKE = /^[\t\n\f\r ]*[a-zA-Z][a-zA-Z0-9]*[\t\n\f\r ]*=/;

/**
 * Formats a syntax tree back into Dockerfile text, so that
 * `dumpAst(parseDockerfile(printDockerfile(ast)))` equals `dumpAst(ast)`.
 *
 * Kept: directives (the escape directive follows `ast.escapeToken`), comments
 * above instructions, continuation line breaks, heredoc bodies and
 * delimiters, one blank line where the source had blank lines between
 * instructions. Normalized: indentation of instruction lines, comments and
 * empty lines inside continuations (dropped), spaces after a continuation
 * token, runs of blank lines, `\r\n` line ends of instruction lines (bodies of
 * heredocs keep theirs). The text always ends with a newline.
 *
 * @example
 * ```ts
 * const ast = parseDockerfile('from alpine\n\n\n  RUN echo a \\\n   b\n');
 * printDockerfile(ast); // 'from alpine\n\nRUN echo a \\\n   b\n'
 * ```
 */
export function printDockerfile(ast: DockerfileAst): string {
  const escape = ast.escapeToken === '`' ? '`' : '\\';
  let out = '';
  let hasEscape = false;
  const seen = new Set<string>();
  for (const directive of ast.directives) {
    if (seen.has(directive.name)) continue;
    seen.add(directive.name);
    const value = directive.name === 'escape' ? escape : directive.value;
    hasEscape ||= directive.name === 'escape';
    out += `# ${directive.name}=${value}\n`;
  }
  if (!hasEscape && escape === '`') out += '# escape=`\n';
  const hasDirectives = out !== '';

  let previousEnd: number | undefined;
  const last = ast.children.length - 1;
  ast.children.forEach((node, index) => {
    const comments = node.comments.flatMap((c) => c.split(/\r?\n/)).filter((c) => c.trim() !== '');
    if (index === 0) {
      // A comment right below the directives (or first in the file) could be read as one.
      if (comments.length > 0 && (hasDirectives || DIRECTIVE_LIKE.test(comments[0]!))) out += '\n';
    } else if (previousEnd !== undefined && node.startLine - previousEnd - 1 > node.comments.length) {
      out += '\n';
    }
    for (const comment of comments) out += `# ${comment}\n`;
    out += printInstruction(node, escape, index === last);
    previousEnd = node.endLine;
  });
  // The parser drops a byte-order mark at the very start: keep a leading U+FEFF that is text.
  return out.charCodeAt(0) === 0xfeff ? '\ufeff' + out : out;
}

/**
 * One instruction, heredoc bodies included, ending with a newline.
 *
 * `atEnd` says nothing follows it. BuildKit lets the last instruction of a
 * file end in a line continuation (even be nothing but one); such an
 * instruction only prints faithfully at the end.
 *
 * @example
 * ```ts
 * printInstruction(parseDockerfile('RUN <<EOF\nhi\nEOF').children[0], '\\'); // 'RUN <<EOF\nhi\nEOF\n'
 * ```
 */
export function printInstruction(node: InstructionNode, escape: '\\' | '`', atEnd = false): string {
  const open = atEnd && node.heredocs.length === 0;
  let out = matchesOriginal(node, escape) ? originalLines(node, escape, open) : undefined;
  if (out === undefined) {
    const line = writeInstructionLine(node, escape);
    out = (linesOf([line], escape, open) ?? [line]).join('\n') + '\n';
  }
  // An instruction with no text at all (BuildKit keeps one for a lone continuation at the end).
  if (goTrimSpace(out) === '') out = escape + '\n';
  for (const heredoc of node.heredocs) {
    out += heredoc.content;
    if (heredoc.content !== '' && !heredoc.content.endsWith('\n')) out += '\n';
    out += heredoc.name + '\n';
  }
  return out;
}

/** Whether re-reading `node.original` gives back the node's own fields and heredocs. */
function matchesOriginal(node: InstructionNode, escape: string): boolean {
  if (node.original === '' || node.original.includes('\n')) return false;
  let parsed: ParsedLine;
  try {
    parsed = parseLine(node.original, escape.charCodeAt(0));
    if (!sameFields(parsed, node)) return false;
    const target = parsed.keyword === 'onbuild' && parsed.child ? parsed.child : parsed;
    const found =
      canHaveHeredocs(target.keyword) && !target.json && node.original.includes('<<') ? heredocsOnLine(node.original) : [];
    return (
      found.length === node.heredocs.length &&
      found.every((h, i) => {
        const mine = node.heredocs[i]!;
        return h.name === mine.name && h.chomp === mine.chomp && h.expand === mine.expand;
      })
    );
  } catch {
    return false;
  }
}

function sameFields(parsed: ParsedLine, node: InstructionNode): boolean {
  if (parsed.keyword !== node.keyword || parsed.json !== node.json) return false;
  if (!sameStrings(parsed.flags, node.flags)) return false;
  if (parsed.child || node.child) {
    return parsed.child !== undefined && node.child !== undefined && sameFields(parsed.child, node.child);
  }
  return sameStrings(parsed.args, node.args);
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}

/**
 * `original` split back at its segments, each line but the last ending in the
 * escape token; undefined when some piece would not read back the same way.
 * With `open` (nothing follows), the last line may itself end in a
 * continuation: it gets one more escape token, which the parser removes again.
 */
function originalLines(node: InstructionNode, escape: string, open: boolean): string | undefined {
  const { original } = node;
  const offsets = [0];
  for (const { offset } of node.segments.slice(1)) {
    if (offset >= offsets[offsets.length - 1]! && offset <= original.length) offsets.push(offset);
  }
  const pieces = offsets.map((o, i) => original.slice(o, offsets[i + 1] ?? original.length));
  // Blank pieces at the end (a continuation into the end of the file) leave no trace when read back.
  while (pieces.length > 1 && goTrimSpace(pieces[pieces.length - 1]!) === '') {
    const blank = pieces.pop()!;
    pieces[pieces.length - 1] += blank;
  }
  const lines = linesOf(pieces, escape, open) ?? linesOf([original], escape, open);
  return lines === undefined ? undefined : lines.join('\n') + '\n';
}

function linesOf(pieces: string[], escape: string, open: boolean): string[] | undefined {
  const lines: string[] = [];
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i]!;
    if (piece.includes('\n') || piece.endsWith('\r')) return undefined;
    let first = 0;
    while (first < piece.length && isGoSpace(piece.charCodeAt(first))) first++;
    // A line starting with `#` is a comment; the first line loses its indentation.
    if (piece.charCodeAt(first) === 0x23 || (i === 0 && first > 0)) return undefined;
    if (i < pieces.length - 1) {
      if (piece !== '' && piece.endsWith(escape)) return undefined;
      lines.push(piece + escape);
    } else if (endsWithContinuation(piece, escape)) {
      if (!open) return undefined;
      // `x\ ` + `\` reads back as `x\ `; `x\` needs a blank between, or the two would escape each other.
      lines.push(piece + (piece.endsWith(escape) ? ' ' : '') + escape);
    } else {
      // A blank last line would be skipped as an empty continuation line.
      if (!open && i > 0 && first === piece.length) return undefined;
      lines.push(piece);
    }
  }
  return lines;
}
