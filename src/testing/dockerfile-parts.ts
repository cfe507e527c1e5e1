/**
 * The small pieces the Dockerfile arbitraries are built from: argument text,
 * JSON forms, flags, keywords. Internal to `layerkit/testing`.
 *
 * Every builder takes a {@link GenContext} and memoizes what it builds in it:
 * building a fast-check arbitrary costs far more than drawing from one, and
 * these are asked for again inside `chain`s for every generated value.
 * @module
 */
import fc from 'fast-check';

/**
 * The escape token of a Dockerfile (`# escape=`).
 * @example
 * ```ts
 * const windows: DockerfileEscapeToken = '`';
 * ```
 */
export type DockerfileEscapeToken = '\\' | '`';

/** What a generated Dockerfile may contain, and the escape token in force. */
export interface GenContext {
  esc: DockerfileEscapeToken;
  /** Also forms that BuildKit rejects. */
  malformed: boolean;
  unicode: boolean;
  heredocs: boolean;
  cache: Map<string, fc.Arbitrary<unknown>>;
}

export function newContext(base: Omit<GenContext, 'cache'>): GenContext {
  return { ...base, cache: new Map() };
}

export function memo<T>(ctx: GenContext, key: string, build: () => fc.Arbitrary<T>): fc.Arbitrary<T> {
  let arb = ctx.cache.get(key) as fc.Arbitrary<T> | undefined;
  if (!arb) {
    arb = build();
    ctx.cache.set(key, arb);
  }
  return arb;
}

export const pick = fc.constantFrom;

/** A string over `alphabet` (far cheaper to build than `fc.stringMatching`). */
export function chars(alphabet: string, minLength: number, maxLength: number): fc.Arbitrary<string> {
  return fc.string({ unit: pick(...alphabet), minLength, maxLength });
}

export const LOWER = 'abcdefghijklmnopqrstuvwxyz';
export const UPPER = LOWER.toUpperCase();
export const DIGITS = '0123456789';

/** Beyond ASCII, what Go's `unicode.IsSpace` or JavaScript's `\s` count as white space (they disagree on U+0085 and U+FEFF). */
export const UNICODE_SPACES = ['\u00a0', '\u0085', '\u1680', '\u2000', '\u2028', '\u2029', '\u202f', '\u3000', '\ufeff'];
/** Accents, scripts, astral emoji, zero-width and control characters. */
export const UNICODE_TEXT = ['é', 'naïve', 'Straße', 'İstanbul', 'ΣΑΣ', '한국어', '日本語', '😀', 'Ǆ', 'à', 'Ņ', '\u200b', '\u00ad', '\u0000', '\u007f', '\u001b[0m', 'a\u0301'];
/**
 * Letters whose case mapping differs between Go (simple folding: `İ`→`i`,
 * Kelvin `K`→`k`) and JavaScript (full folding: `İ`→`i̇`), or that only
 * upper-case to ASCII (`ſ`→`S`, `ı`→`I`).
 */
const FOLDING_TRAPS: Record<string, string> = { I: 'İ', K: '\u212a', S: 'ſ', i: 'ı' };

/**
 * Any code point but a half surrogate, spread over ASCII, the BMP and the
 * astral planes. (fast-check's `unit: 'binary'` builds a reverse table of all
 * 1.1M code points, too slow to build inside a chain.)
 */
export const codePoint: fc.Arbitrary<string> = fc
  .oneof(fc.integer({ min: 0, max: 0x7f }), fc.integer({ min: 0x80, max: 0xffff }), fc.integer({ min: 0x10000, max: 0x10ffff }))
  .filter((c) => c < 0xd800 || c > 0xdfff)
  .map((c) => String.fromCodePoint(c));

/** Well-formed code points other than line breaks. */
export function unicodeString(minLength: number, maxLength: number): fc.Arbitrary<string> {
  return fc.string({ unit: codePoint, minLength, maxLength }).map((s) => s.replace(/[\n\r]/g, '_'));
}

/** One word of argument text. On a heredoc line only words BuildKit's shell lexer reads without error. */
function textToken(ctx: GenContext, heredocLine: boolean): fc.Arbitrary<string> {
  return memo(ctx, `textToken:${heredocLine}`, () => {
    const e = ctx.esc;
    const clean = [
      'echo', 'hello', 'apt-get', 'install', '-y', 'curl', 'make', '/usr/local/bin', 'a.tar.gz', '&&', '||', '|', ';',
      '>', '2>&1', '*.go', 'key=value', '=', '-', '--', '#', 'a#b', '{', '}', '(', ')', '@', '~', '%', ':', ',', '!',
      '$HOME', '${PATH}', '${V:-def}', '$1', '"dq"', '"a b  c"', "'s q'", '""', "''", 'a\\ b', `x${e}${e}y`, `${e}${e}`, '\\"',
    ];
    const wild = ['"unterminated', "'open", '${', '${}', '${A:-', '$', '\\', `${e}#`, '<', '[', ']', ']x', '\u0000', 'a\rb'];
    const arbs: fc.Arbitrary<string>[] = [pick(...clean), chars(LOWER + UPPER + DIGITS + '_./:=@+-', 1, 8)];
    if (!heredocLine) arbs.push(pick(...wild));
    if (!heredocLine && ctx.malformed) arbs.push(pick('<<EOF', '<<', '<<-', '2<<X', 'cat<<EOF', '<<""'));
    if (ctx.unicode) {
      const text = fc.oneof(pick(...UNICODE_TEXT), unicodeString(1, 4));
      // A stray quote, `$` or `\` would make BuildKit's lexer fail on the line and skip its heredocs.
      arbs.push(heredocLine ? text.map((t) => t.replace(/['"\\$<`]/g, '_')) : text);
    }
    return fc.oneof(...arbs);
  });
}

/** Blanks between words: ASCII (`\v` and `\f` included) and, rarely, Unicode spaces. */
export function spaces(ctx: GenContext): fc.Arbitrary<string> {
  return memo(ctx, 'spaces', () => {
    const ascii = pick(' ', ' ', ' ', '  ', '\t', ' \t ', '\v', '\f');
    return ctx.unicode ? fc.oneof({ weight: 6, arbitrary: ascii }, { weight: 1, arbitrary: pick(...UNICODE_SPACES) }) : ascii;
  });
}

/** Shell-form arguments. Unless malformed, they never start with `[`, which would make BuildKit try JSON. */
export function shellText(ctx: GenContext, heredocLine = false): fc.Arbitrary<string> {
  return memo(ctx, `shellText:${heredocLine}`, () =>
    fc
      .array(fc.tuple(textToken(ctx, heredocLine), heredocLine ? pick(' ', '  ', '\t') : spaces(ctx)), { minLength: 1, maxLength: 6 })
      .map((parts) => parts.map(([t, s], i) => (i === parts.length - 1 ? t : t + s)).join(''))
      .map((t) => (!ctx.malformed && /^[\s\u0085]*\[/.test(t) ? `x${t}` : t)),
  );
}

function jsonString(ctx: GenContext): fc.Arbitrary<string> {
  const pieces: fc.Arbitrary<string>[] = [
    pick('sh', '-c', 'echo hi', '/bin/bash', '', 'a b', '[', ']', ',', 'x=y', '$X', "'"),
    pick('\\"', '\\\\', '\\/', '\\b', '\\f', '\\n', '\\r', '\\t', '\\u00e9', '\\u0041', '\\u0000', '\\ud83d\\ude00'),
  ];
  // Unpaired surrogate escapes: Go decodes them to U+FFFD.
  if (ctx.unicode) pieces.push(pick(...UNICODE_TEXT.filter((t) => !/[\u0000-\u001f]/.test(t)), '\\ud800', '\\udc00x', '\\u2028'));
  return fc.array(fc.oneof(...pieces), { maxLength: 3 }).map((p) => `"${p.join('')}"`);
}

/**
 * A JSON (exec) form: well-formed string arrays with odd spacing; text that
 * only looks like JSON, which BuildKit reads as shell form (`[1e999]` among
 * them: Go cannot decode the number); and, when malformed, arrays holding
 * something other than strings, which BuildKit rejects.
 */
export function jsonArray(ctx: GenContext): fc.Arbitrary<string> {
  return memo(ctx, 'jsonArray', () => {
    const wellFormed = fc
      .tuple(fc.array(jsonString(ctx), { maxLength: 4 }), pick(',', ', ', ' , ', ',\t', ',\r'), pick('', ' ', '\t'), pick('', ' '))
      .map(([xs, sep, a, b]) => `[${a}${xs.join(sep)}${b}]`);
    const almost = pick(`['a', 'b']`, '["a",]', '["a"', '[a]', '["a"] x', '[ "a" "b" ]', '[1e999]', '[{"a": -1e400}]', '["x", 1E+999]', "['x']", '["\\x"]', '["a\tb"]', '[', '[]]');
    const rejected = pick('[1]', '["a", 2]', '[["a"]]', '[null]', '[true]', '[{}]', '["a", {"b": 1}]', '[1e308]', '[-0]');
    return ctx.malformed
      ? fc.oneof({ weight: 5, arbitrary: wellFormed }, { weight: 1, arbitrary: almost }, { weight: 1, arbitrary: rejected })
      : fc.oneof({ weight: 5, arbitrary: wellFormed }, { weight: 1, arbitrary: almost });
  });
}

const FLAGS: Record<string, string[]> = {
  from: ['--platform=linux/amd64', '--platform=$BUILDPLATFORM'],
  run: [
    '--mount=type=cache,target=/root/.cache', '--mount=type=bind,source=.,target=/src', '--mount=type=secret,id=tok',
    '--network=none', '--network=host', '--security=insecure', '--device=/dev/fuse',
  ],
  copy: ['--from=build', '--chown=1000:1000', '--chmod=0755', '--link', '--link=false', '--parents', '--exclude=*.md'],
  add: ['--chown=app', '--chmod=644', '--link', '--keep-git-dir=true', '--checksum=sha256:0123abcd', '--exclude=.git', '--unpack=true'],
  healthcheck: ['--interval=30s', '--timeout=5s', '--start-period=1m', '--start-interval=2s', '--retries=3'],
};

/**
 * Up to three flags: the instruction's own, made-up ones, quoted and escaped
 * values, `--` (end of flags), and (not `clean`) an unterminated quote that
 * swallows the line, or non-ASCII bytes that BuildKit's byte-wise flag
 * scanner splits.
 */
export function flags(ctx: GenContext, keyword: string, clean = false): fc.Arbitrary<string[]> {
  return memo(ctx, `flags:${keyword}:${clean}`, () => {
    const made = fc
      .tuple(chars(LOWER, 1, 1), chars(LOWER + '-', 0, 8), fc.option(chars(LOWER + DIGITS + ',=/.:', 0, 8)))
      .map(([a, b, v]) => `--${a}${b}${v === null ? '' : '=' + v}`);
    const arbs: fc.Arbitrary<string>[] = [pick(...(FLAGS[keyword] ?? []), '--foo=bar', '--x'), made];
    if (!clean) {
      arbs.push(pick('--foo', '--x=', '--x=a\\ b', `--x=a${ctx.esc} b`, '--x="a b"', "--x='q'", '--', '--=v', '--X=1', '--x="open', '-x'));
      if (ctx.unicode) arbs.push(unicodeString(1, 3).map((s) => `--u=${s}`), pick(...UNICODE_SPACES).map((s) => `--a=x${s}--b`));
    }
    return fc.array(fc.oneof(...arbs), { maxLength: 3 });
  });
}

/**
 * An instruction keyword as people write it (upper, lower, mixed case) and,
 * with Unicode, with one letter swapped for a case-folding trap. `strict`
 * keeps it the same instruction for BuildKit (no traps).
 */
export function keyword(ctx: GenContext, name: string, strict = false): fc.Arbitrary<string> {
  return memo(ctx, `keyword:${name}:${strict}`, () => {
    const usual = pick(name, name, name, name.toLowerCase());
    const mixed = fc
      .array(fc.boolean(), { minLength: name.length, maxLength: name.length })
      .map((up) => [...name].map((c, i) => (up[i] ? c : c.toLowerCase())).join(''));
    if (!ctx.unicode || strict) return fc.oneof(usual, mixed);
    const trap = fc.nat(name.length - 1).map((i) => name.slice(0, i) + (FOLDING_TRAPS[name[i]!] ?? name[i]) + name.slice(i + 1));
    return fc.oneof({ weight: 8, arbitrary: usual }, { weight: 2, arbitrary: mixed }, { weight: 1, arbitrary: trap });
  });
}
