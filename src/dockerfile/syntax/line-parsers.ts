/**
 * From one logical line (continuations already joined) to keyword, flags and
 * arguments. Each instruction has its own argument rules (see
 * {@link ArgumentStyle}); these reproduce BuildKit's line parsers, quirks
 * included, because the typed layer and the dump depend on them.
 * @module
 */
import {
  fromByteString,
  goToLower,
  goTrimSpace,
  isAscii,
  isAsciiBlank,
  isGoSpace,
  rawBytesToReplacement,
  skipGoSpace,
  toByteString,
} from './chars.js';
import { goQuote } from './go-quote.js';
import { readJsonArray } from './json-form.js';
import { argumentStyle, type ArgumentStyle } from './keywords.js';

/** A problem in one line; `offset` is where, in that line's text. */
export class LineParseError {
  constructor(
    readonly message: string,
    public offset: number,
  ) {}
}

/** One instruction read from a logical line. */
export interface ParsedLine {
  rawKeyword: string;
  keyword: string;
  flags: string[];
  args: string[];
  json: boolean;
  /** ONBUILD's trigger instruction. */
  child?: ParsedLine;
  /** Offset in the line of the argument text (after keyword and flags). */
  argsOffset: number;
  /** Whether the keyword is one BuildKit knows. */
  known: boolean;
}

const QUOTE_SINGLE = 0x27;
const QUOTE_DOUBLE = 0x22;
const DASH = 0x2d;

/**
 * Splits `line` into keyword, flags and argument text, then reads the
 * arguments with the keyword's rules.
 */
export function parseLine(line: string, escape: number): ParsedLine {
  // BuildKit trims with Unicode spaces, then splits at the first run of ASCII blanks.
  let start = skipGoSpace(line, 0);
  let end = line.length;
  while (end > start && isGoSpace(line.charCodeAt(end - 1))) end--;
  let cmdEnd = start;
  while (cmdEnd < end && !isAsciiBlank(line.charCodeAt(cmdEnd))) cmdEnd++;
  const rawKeyword = line.slice(start, cmdEnd);
  const keyword = lowerKeyword(rawKeyword);
  let flags: string[] = [];
  let rest = '';
  let argsOffset = end;
  if (cmdEnd < end) {
    let afterBlank = cmdEnd;
    while (afterBlank < end && isAsciiBlank(line.charCodeAt(afterBlank))) afterBlank++;
    const extracted = extractBuilderFlags(line.slice(afterBlank, end), escape);
    flags = extracted.flags;
    rest = goTrimSpace(extracted.rest);
    // The remaining text is a suffix of the trimmed line.
    argsOffset = Math.max(start, end - rest.length);
  }
  const style = argumentStyle(keyword);
  const parsed: ParsedLine = { rawKeyword, keyword, flags, args: [], json: false, argsOffset, known: style !== undefined };
  if (style === undefined) {
    // BuildKit keeps unknown instructions with one empty argument.
    parsed.args = [''];
    return parsed;
  }
  try {
    readArguments(parsed, style, rest, escape);
  } catch (err) {
    if (err instanceof LineParseError) err.offset += argsOffset;
    throw err;
  }
  return parsed;
}

/** Lowercased keywords by spelling: a file spells its few keywords over and over. */
const lowered = new Map<string, string>();

function lowerKeyword(raw: string): string {
  let lower = lowered.get(raw);
  if (lower === undefined) {
    lower = goToLower(raw);
    if (lowered.size < 512) lowered.set(raw, lower);
  }
  return lower;
}

/**
 * Reads `rest` as a JSON array of strings into `parsed`. Returns false when
 * it is not JSON (the caller falls back to shell form); throws when it is a
 * JSON array holding something other than strings, as BuildKit does.
 */
function parseJsonInto(parsed: ParsedLine, rest: string): boolean {
  const form = readJsonArray(rest);
  if (form.kind === 'not-json') return false;
  if (form.kind === 'not-strings') {
    throw new LineParseError('when using JSON array syntax, arrays must be comprised of strings only', form.offset);
  }
  parsed.args = form.args;
  parsed.json = true;
  return true;
}

function readArguments(parsed: ParsedLine, style: ArgumentStyle, rest: string, escape: number): void {
  switch (style) {
    case 'maybe-json':
      parseMaybeJson(parsed, rest);
      return;
    case 'maybe-json-list':
      if (!parseJsonInto(parsed, rest)) parsed.args = splitBlank(rest);
      return;
    case 'words':
      parsed.args = splitBlank(rest);
      return;
    case 'string':
      parsed.args = rest === '' ? [] : [rest];
      return;
    case 'name-val':
      parsed.args = parseNameVal(rest, parsed.keyword === 'env' ? 'ENV' : 'LABEL', escape);
      return;
    case 'name-or-name-val':
      parsed.args = parseWords(rest, escape);
      return;
    case 'health':
      parseHealth(parsed, rest);
      return;
    case 'sub-command':
      if (rest !== '') parsed.child = parseLine(rest, escape);
      return;
  }
}

/** BuildKit's `parseMaybeJSON`: JSON array of strings, else the text as one argument. */
function parseMaybeJson(parsed: ParsedLine, rest: string): void {
  if (rest === '') return;
  if (!parseJsonInto(parsed, rest)) parsed.args = [rest];
}

/** BuildKit's `parseStringsWhitespaceDelimited`: split at runs of `[\t\v\f\r ]`. */
function splitBlank(rest: string): string[] {
  const out: string[] = [];
  if (rest === '') return out;
  let wordStart = 0;
  let i = 0;
  const n = rest.length;
  while (i < n) {
    if (isAsciiBlank(rest.charCodeAt(i))) {
      out.push(rest.slice(wordStart, i));
      while (i < n && isAsciiBlank(rest.charCodeAt(i))) i++;
      wordStart = i;
    } else {
      i++;
    }
  }
  // A trailing run of blanks leaves an empty word, as Go's regexp.Split does.
  out.push(rest.slice(wordStart));
  return out;
}

/** BuildKit's `parseHealthConfig`: the type word (found byte-wise), then `parseMaybeJSON`. */
function parseHealth(parsed: ParsedLine, rest: string): void {
  if (rest === '') return;
  const bytes = isAscii(rest) ? rest : toByteString(rest);
  let sep = 0;
  while (sep < bytes.length && !isGoSpace(bytes.charCodeAt(sep))) sep++;
  if (sep === 0) return;
  let next = sep;
  while (next < bytes.length && isGoSpace(bytes.charCodeAt(next))) next++;
  const ascii = bytes === rest;
  const type = ascii ? rest.slice(0, sep) : fromByteString(bytes.slice(0, sep));
  const cmdText = ascii ? rest.slice(next) : fromByteString(bytes.slice(next));
  const cmd: ParsedLine = { ...parsed, args: [] };
  try {
    parseMaybeJson(cmd, cmdText);
  } catch (err) {
    if (err instanceof LineParseError) err.offset += rest.length - cmdText.length;
    throw err;
  }
  parsed.args = [type, ...cmd.args];
  parsed.json = cmd.json;
}

/**
 * BuildKit's `parseNameVal` for ENV and LABEL: `key=value` words, or the
 * legacy `key value` form when the first word has no `=`. Returns
 * `key, value, separator` triples.
 */
function parseNameVal(rest: string, keyword: 'ENV' | 'LABEL', escape: number): string[] {
  const words = parseWords(rest, escape);
  if (words.length === 0) return [];
  if (!words[0]!.includes('=')) {
    let i = 0;
    while (i < rest.length && !isAsciiBlank(rest.charCodeAt(i))) i++;
    if (i === rest.length) throw new LineParseError(`${keyword} must have two arguments`, 0);
    let j = i;
    while (j < rest.length && isAsciiBlank(rest.charCodeAt(j))) j++;
    return [rest.slice(0, i), rest.slice(j), ''];
  }
  const out: string[] = [];
  for (let w = 0; w < words.length; w++) {
    const word = words[w]!;
    const eq = word.indexOf('=');
    if (eq < 0) {
      throw new LineParseError(
        `Syntax error - can't find = in ${goQuote(word)}. Must be of the form: name=value`,
        offsetOfWord(rest, words, w),
      );
    }
    out.push(word.slice(0, eq), word.slice(eq + 1), '=');
  }
  return out;
}

/** Where the `index`-th of `words` (as split from `rest`) starts, for error columns; 0 if unknown. */
function offsetOfWord(rest: string, words: string[], index: number): number {
  let from = 0;
  for (let w = 0; w < index; w++) {
    const at = rest.indexOf(words[w]!, from);
    if (at >= 0) from = at + words[w]!.length;
  }
  return Math.max(0, rest.indexOf(words[index]!, from));
}

/**
 * BuildKit's `parseWords`: split at Unicode white space outside quotes.
 * Quotes and escapes stay in the words (they are processed later); an
 * escape token at the very end is dropped.
 */
export function parseWords(rest: string, escape: number): string[] {
  const words: string[] = [];
  const n = rest.length;
  let inWord = false;
  let quote = 0;
  let blankOk = false;
  let word = '';
  let i = 0;
  while (i < n) {
    let c = rest.charCodeAt(i);
    if (!inWord && quote === 0) {
      if (isGoSpace(c)) {
        i++;
        continue;
      }
      inWord = true;
    }
    if (quote === 0) {
      if (isGoSpace(c)) {
        if (blankOk || word.length > 0) words.push(word);
        word = '';
        blankOk = false;
        inWord = false;
        i++;
        continue;
      }
      if (c !== QUOTE_SINGLE && c !== QUOTE_DOUBLE && c !== escape) {
        // A run of ordinary characters at once.
        let j = i + 1;
        for (; j < n; j++) {
          const d = rest.charCodeAt(j);
          if (d === QUOTE_SINGLE || d === QUOTE_DOUBLE || d === escape || isGoSpace(d)) break;
        }
        word += rest.slice(i, j);
        i = j;
        continue;
      }
      if (c === QUOTE_SINGLE || c === QUOTE_DOUBLE) {
        quote = c;
        blankOk = true;
      } else if (c === escape) {
        if (i + 1 === n) {
          i++;
          continue;
        }
        word += rest[i];
        i++;
        c = rest.charCodeAt(i);
      }
      word += rest[i];
      i++;
      continue;
    }
    // Inside quotes.
    if (c === quote) {
      quote = 0;
    } else if (c === escape && quote !== QUOTE_SINGLE) {
      if (i + 1 === n) {
        quote = 0;
        i++;
        continue;
      }
      word += rest[i];
      i++;
    }
    word += rest[i];
    i++;
  }
  if ((inWord || quote !== 0) && (blankOk || word.length > 0)) words.push(word);
  // BuildKit rebuilds each word rune by rune: a raw byte comes out as U+FFFD.
  if (!isAscii(rest)) for (let k = 0; k < words.length; k++) words[k] = rawBytesToReplacement(words[k]!);
  return words;
}

/** What {@link extractBuilderFlags} split off. */
export interface ExtractedFlags {
  flags: string[];
  /** The text after the flags (untrimmed). */
  rest: string;
}

/**
 * BuildKit's `extractBuilderFlags`: leading `--name=value` words, quotes
 * removed and escapes applied, up to the first word that does not start
 * with `--` (or a bare `--`). BuildKit walks bytes here, so non-ASCII text in
 * a flag comes out as one Latin-1 character per UTF-8 byte; so does ours.
 */
export function extractBuilderFlags(text: string, escape: number): ExtractedFlags {
  const first = skipGoSpace(text, 0);
  if (text.charCodeAt(first) !== DASH || text.charCodeAt(first + 1) !== DASH) {
    return { flags: [], rest: text.slice(first) };
  }
  const ascii = isAscii(text);
  const line = ascii ? text : toByteString(text);
  const result = extractFlagsFromBytes(line, escape);
  if (!ascii) result.rest = fromByteString(result.rest);
  return result;
}

function extractFlagsFromBytes(line: string, escape: number): ExtractedFlags {
  const flags: string[] = [];
  const n = line.length;
  let inWord = false;
  let quote = 0;
  let blankOk = false;
  let word = '';
  for (let pos = 0; pos <= n; pos++) {
    let c = pos < n ? line.charCodeAt(pos) : -1;
    if (!inWord && quote === 0) {
      if (pos === n) break;
      if (isGoSpace(c)) continue;
      if (c !== DASH || pos + 1 === n || line.charCodeAt(pos + 1) !== DASH) {
        return { flags, rest: line.slice(pos) };
      }
      inWord = true;
    }
    if (pos === n) {
      if (word !== '--' && (blankOk || word.length > 0)) flags.push(word);
      break;
    }
    if (quote === 0) {
      if (c !== QUOTE_SINGLE && c !== QUOTE_DOUBLE && c !== escape && !isGoSpace(c)) {
        // A run of ordinary bytes at once.
        let end = pos + 1;
        for (; end < n; end++) {
          const d = line.charCodeAt(end);
          if (d === QUOTE_SINGLE || d === QUOTE_DOUBLE || d === escape || isGoSpace(d)) break;
        }
        word += line.slice(pos, end);
        pos = end - 1;
        continue;
      }
      if (isGoSpace(c)) {
        if (word === '--') return { flags, rest: line.slice(pos) };
        if (blankOk || word.length > 0) flags.push(word);
        word = '';
        blankOk = false;
        inWord = false;
        continue;
      }
      if (c === QUOTE_SINGLE || c === QUOTE_DOUBLE) {
        quote = c;
        blankOk = true;
        continue;
      }
      if (c === escape) {
        if (pos + 1 === n) continue;
        pos++;
        c = line.charCodeAt(pos);
      }
      word += String.fromCharCode(c);
      continue;
    }
    // Inside quotes: the escape token works in single quotes too, unlike the shell.
    if (c === quote) {
      quote = 0;
      continue;
    }
    if (c === escape) {
      if (pos + 1 === n) {
        quote = 0;
        continue;
      }
      pos++;
      c = line.charCodeAt(pos);
    }
    word += String.fromCharCode(c);
  }
  return { flags, rest: '' };
}
