/**
 * One instruction written from its fields (keyword, flags, arguments) as a
 * single line the parser reads back into the same fields: what the printer
 * uses for an instruction whose `original` text no longer matches it.
 *
 * The line is assembled as bytes. BuildKit splits flags (and the HEALTHCHECK
 * type) byte by byte, and the bytes 0x85 and 0xA0 count as blanks there even
 * inside a character; a flag can then end with the first bytes of a
 * character and the next word start with the rest (held as U+DC80–U+DCFF,
 * see `fromByteString`). Choosing those blank bytes as separators puts the
 * character back together, so the line is valid text again.
 * @module
 */
import { fromByteString, goToLower, isGoSpace, toByteString } from './chars.js';
import { argumentStyle } from './keywords.js';
import type { InstructionNode } from './node.js';

/**
 * The canonical one-line form of an instruction.
 *
 * @example
 * ```ts
 * const [copy] = parseDockerfile('COPY --chown="a b" x y').children;
 * writeInstructionLine(copy, '\\'); // 'COPY --"chown=a b" x y'
 * ```
 */
export function writeInstructionLine(node: InstructionNode, escape: string): string {
  const line = fromByteString(lineBytes(node, escape));
  // An unknown instruction keeps no arguments. When its line ends in the escape
  // token (a continuation) or in white space the parser would trim (U+0085
  // ending a keyword, U+00A0 ending a flag), it gets one: an escaped escape token.
  let last = node;
  while (last.child) last = last.child;
  if (
    argumentStyle(last.keyword) === undefined &&
    (endsWithContinuation(line, escape) || isGoSpace(line.charCodeAt(line.length - 1)))
  ) {
    return line + ' ' + escape + escape;
  }
  return line;
}

/** Whether `line` ends with an unescaped escape token and optional spaces and tabs. */
export function endsWithContinuation(line: string, escape: string): boolean {
  let k = line.length - 1;
  while (k >= 0 && (line[k] === ' ' || line[k] === '\t')) k--;
  return k >= 0 && line[k] === escape && (k === 0 || line[k - 1] !== escape);
}

/** The line as a byte string (one Latin-1 character per byte). */
function lineBytes(node: InstructionNode, escape: string): string {
  const keyword =
    goToLower(node.rawKeyword) === node.keyword && node.rawKeyword !== '' ? node.rawKeyword : node.keyword.toUpperCase();
  const tokens = [toByteString(keyword)];
  for (const flag of node.flags) tokens.push(flagBytes(flag, escape));
  if (node.child) {
    tokens.push(lineBytes(node.child, escape));
  } else {
    const args = argumentTokens(node);
    // Arguments that start with `--` would be read as flags: end the flags first.
    if (args[0]?.startsWith('--')) args[0] = '-- ' + args[0];
    for (const arg of args) tokens.push(toByteString(arg));
  }
  return joinTokens(tokens.filter((t) => t !== ''));
}

/** The argument text, split where the parser splits at any blank byte (HEALTHCHECK's type). */
function argumentTokens(node: InstructionNode): string[] {
  const { args } = node;
  const style = argumentStyle(node.keyword);
  if (style === undefined || args.length === 0) return [];
  if (style === 'health') {
    return node.json ? [args[0]!, JSON.stringify(args.slice(1))] : args.slice(0, 2);
  }
  if (node.json) return [JSON.stringify(args)];
  switch (style) {
    case 'name-val': {
      if (args.length === 3 && args[2] === '') return [`${args[0]} ${args[1]}`];
      const pairs: string[] = [];
      for (let i = 0; i + 1 < args.length; i += 3) pairs.push(`${args[i]}=${args[i + 1]}`);
      return [pairs.join(' ')];
    }
    case 'maybe-json-list':
    case 'words': {
      // Words with blanks in them only survive as JSON (same dump, but no heredocs).
      if (style === 'maybe-json-list' && node.heredocs.length === 0 && args.some((a) => a === '' || /[\t\v\f\r ]/.test(a))) {
        return [JSON.stringify(args)];
      }
      const text = args.join(' ');
      // Joined words that happen to form a JSON array are kept apart by a blank JSON does not allow.
      return [style === 'maybe-json-list' && looksLikeJsonArray(text) ? args.join('\v') : text];
    }
    default:
      return [args.join(' ')];
  }
}

function looksLikeJsonArray(text: string): boolean {
  if (!text.startsWith('[')) return false;
  try {
    return Array.isArray(JSON.parse(text));
  } catch {
    return false;
  }
}

/** Bytes that end a flag word: ASCII white space, quotes, and 0x85/0xA0. */
const FLAG_NEEDS_QUOTES = /[\t\n\v\f\r "'\x85\xa0]/;

/**
 * A flag (one Latin-1 character per byte, as the parser keeps it) as bytes
 * the parser reads back as the same flag: quoted when it holds blanks or
 * quotes, with an unfinished last character left outside the quotes.
 */
function flagBytes(flag: string, escape: string): string {
  const tail = incompleteTail(flag);
  const body = flag.slice(0, flag.length - tail.length);
  if (!FLAG_NEEDS_QUOTES.test(body) && !body.includes(escape)) return body + tail;
  let quoted = '';
  for (const ch of body.slice(2)) quoted += ch === '"' || ch === escape ? escape + ch : ch;
  return `--"${quoted}"${tail}`;
}

/** The bytes of an unfinished UTF-8 sequence at the end of `bytes`, or ''. */
function incompleteTail(bytes: string): string {
  let i = bytes.length - 1;
  while (i >= 0 && i > bytes.length - 4 && isContinuation(bytes.charCodeAt(i))) i--;
  if (i < 0) return '';
  const lead = bytes.charCodeAt(i);
  const need = lead >= 0xf0 && lead <= 0xf4 ? 4 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xc2 && lead <= 0xdf ? 2 : 0;
  return need > bytes.length - i ? bytes.slice(i) : '';
}

function isContinuation(b: number): boolean {
  return b >= 0x80 && b <= 0xbf;
}

/** Every run of one to three of the blank bytes 0xA0 and 0x85, shortest first. */
const BLANK_RUNS: string[] = ['\xa0', '\x85'];
for (let i = 0; i < BLANK_RUNS.length; i++) {
  if (BLANK_RUNS[i]!.length < 3) BLANK_RUNS.push(BLANK_RUNS[i]! + '\xa0', BLANK_RUNS[i]! + '\x85');
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function isValidUtf8(bytes: string): boolean {
  try {
    strictUtf8.decode(Uint8Array.from(bytes, (ch) => ch.charCodeAt(0)));
    return true;
  } catch {
    return false;
  }
}

/**
 * Joins tokens with a space, or, where a character was split between two
 * tokens, with the blank bytes that complete it.
 */
function joinTokens(tokens: string[]): string {
  let out = tokens[0] ?? '';
  for (const token of tokens.slice(1)) {
    const tail = incompleteTail(out);
    let stray = 0;
    while (stray < token.length && stray < 3 && isContinuation(token.charCodeAt(stray))) stray++;
    let separator = ' ';
    if (tail !== '' || stray > 0) {
      const head = token.slice(0, stray);
      separator = BLANK_RUNS.find((run) => isValidUtf8(tail + run + head)) ?? ' ';
    }
    out += separator + token;
  }
  return out;
}
