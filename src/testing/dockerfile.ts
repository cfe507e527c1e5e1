/**
 * fast-check arbitraries for Dockerfiles and shell words, for property tests
 * of anything that reads Dockerfiles.
 *
 * The generated text goes where parsers go wrong: every instruction and its
 * flags, line continuations with comments and blank lines in between, the
 * `\` and `` ` `` escape directives, `syntax`/`check` directives, JSON and
 * almost-JSON forms, heredocs (`<<EOF`, `<<-EOF`, quoted delimiters, several
 * per line), tabs, CR, trailing spaces, Unicode whitespace and case-folding
 * traps. By default every generated Dockerfile is one that BuildKit's parser
 * accepts; `malformed: true` mixes in the forms it rejects.
 * @module
 */
import fc from 'fast-check';

/** The escape token of a Dockerfile (`# escape=`). */
export type DockerfileEscapeToken = '\\' | '`';

/** Options of {@link dockerfileArbitrary}. */
export interface DockerfileArbitraryOptions {
  /**
   * Also generate what BuildKit rejects or reads surprisingly: bad ENV/LABEL
   * arity, JSON arrays of non-strings, duplicate or invalid directives,
   * unterminated heredocs, files without instructions. Default `false`: every
   * Dockerfile is accepted by BuildKit's parser.
   */
  malformed?: boolean;
  /** Non-ASCII text, Unicode whitespace, a BOM and case-folding traps. Default `true`. */
  unicode?: boolean;
  /** `RUN`/`COPY`/`ADD` heredocs. Default `true`. */
  heredocs?: boolean;
  /** Most instructions in the body (comments and blank lines come on top). Default 8. */
  maxInstructions?: number;
}

interface Ctx {
  esc: DockerfileEscapeToken;
  malformed: boolean;
  unicode: boolean;
  heredocs: boolean;
  /** Arbitraries already built for this context: building them is what costs, not drawing from them. */
  cache: Map<string, fc.Arbitrary<unknown>>;
}

function memo<T>(ctx: Ctx, key: string, build: () => fc.Arbitrary<T>): fc.Arbitrary<T> {
  let arb = ctx.cache.get(key) as fc.Arbitrary<T> | undefined;
  if (!arb) {
    arb = build();
    ctx.cache.set(key, arb);
  }
  return arb;
}

function newCtx(base: Omit<Ctx, 'cache'>): Ctx {
  return { ...base, cache: new Map() };
}

/** An instruction before it is laid out on physical lines. */
interface Logical {
  text: string;
  /** Body lines of each heredoc, terminator last; laid out after the instruction. */
  bodies: string[][];
}

const pick = fc.constantFrom;

/** A string over `alphabet` (much cheaper to build than fc.stringMatching). */
function chars(alphabet: string, minLength: number, maxLength: number): fc.Arbitrary<string> {
  return fc.string({ unit: pick(...alphabet), minLength, maxLength });
}

const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const UPPER = LOWER.toUpperCase();
const DIGITS = '0123456789';
const join = (parts: string[], sep = ' ') => parts.join(sep);

/** Characters Go's `unicode.IsSpace` or JavaScript's `\s` treat as whitespace, beyond ASCII. */
const UNICODE_SPACES = ['\u00a0', '\u0085', '\u1680', '\u2000', '\u2028', '\u2029', '\u202f', '\u3000', '\ufeff'];
const UNICODE_TEXT = ['é', 'naïve', 'Straße', 'İstanbul', 'ΣΑΣ', '한국어', '日本語', '😀', 'Ǆ', 'à', 'Ņ', '\u200b', '\u00ad', '\u0000', '\u007f', '\u001b[0m', 'a\u0301'];
/** Keywords whose case folding differs between Go (simple folding) and JavaScript (full folding). */
const FOLDING_TRAPS: Record<string, string> = { I: 'İ', K: '\u212a', S: 'ſ', i: 'ı' };

// ---------------------------------------------------------------- text atoms

function textTokens(ctx: Ctx, { heredocLine = false } = {}): fc.Arbitrary<string> {
  return memo(ctx, `textTokens:${heredocLine}`, () => textTokensUncached(ctx, { heredocLine }));
}

function textTokensUncached(ctx: Ctx, { heredocLine = false } = {}): fc.Arbitrary<string> {
  const e = ctx.esc;
  // Tokens that lex cleanly in BuildKit's shell lexer (a heredoc line must).
  const clean = [
    'echo', 'hello', 'apt-get', 'install', '-y', 'curl', 'make', '/usr/local/bin', 'a.tar.gz', '&&', '||', '|', ';',
    '>', '2>&1', '*.go', 'key=value', '=', '-', '--', '#', 'a#b', '{', '}', '(', ')', '@', '~', '%', ':', ',', '!',
    '$HOME', '${PATH}', '${V:-def}', '$1', '"dq"', '"a b  c"', "'s q'", '""', "''", 'a\\ b', `x${e}${e}y`, `${e}${e}`, '\\"',
  ];
  const wild = ['"unterminated', "'open", '${', '${}', '${A:-', '$', '\\', `${e}#`, '<', '[', ']', ']x'];
  const arbs: fc.Arbitrary<string>[] = [pick(...clean), chars(LOWER + UPPER + DIGITS + '_./:=@+-', 1, 8)];
  if (!heredocLine) arbs.push(pick(...wild));
  if (!heredocLine && ctx.malformed) arbs.push(pick('<<EOF', '<<', '<<-', '2<<X', 'cat<<EOF'));
  if (ctx.unicode) {
    const text = fc.oneof(pick(...UNICODE_TEXT), unicodeString(1, 4));
    // On a heredoc line BuildKit lexes every word: an odd quote, `$` or `\` could hide the heredoc.
    arbs.push(heredocLine ? text.map((t) => t.replace(/['"\\$<`]/g, '_')) : text);
  }
  return fc.oneof(...arbs);
}

/**
 * Any code point but a half surrogate, mostly from the BMP. (fast-check's
 * `unit: 'binary'` builds a reverse table of all 1.1M code points: too slow
 * to build inside a chain.)
 */
const codePoint: fc.Arbitrary<string> = fc
  .oneof(fc.integer({ min: 0, max: 0x7f }), fc.integer({ min: 0x80, max: 0xffff }), fc.integer({ min: 0x10000, max: 0x10ffff }))
  .filter((c) => c < 0xd800 || c > 0xdfff)
  .map((c) => String.fromCodePoint(c));

/** Well-formed code points other than line breaks. */
function unicodeString(minLength: number, maxLength: number): fc.Arbitrary<string> {
  return fc.string({ unit: codePoint, minLength, maxLength }).map((s) => s.replace(/[\n\r]/g, '_'));
}

function spaces(ctx: Ctx): fc.Arbitrary<string> {
  return memo(ctx, 'spaces', () => spacesUncached(ctx));
}

function spacesUncached(ctx: Ctx): fc.Arbitrary<string> {
  const ascii = [' ', ' ', ' ', '  ', '\t', ' \t ', '\v', '\f'];
  return ctx.unicode ? fc.oneof({ weight: 6, arbitrary: pick(...ascii) }, { weight: 1, arbitrary: pick(...UNICODE_SPACES) }) : pick(...ascii);
}

/** Shell-form arguments. A leading `[` would make BuildKit try JSON, so valid text never starts with one. */
function shellText(ctx: Ctx, opts: { heredocLine?: boolean } = {}): fc.Arbitrary<string> {
  return memo(ctx, `shellText:${opts.heredocLine ?? false}`, () => shellTextUncached(ctx, opts));
}

function shellTextUncached(ctx: Ctx, opts: { heredocLine?: boolean } = {}): fc.Arbitrary<string> {
  return fc
    .array(fc.tuple(textTokens(ctx, opts), opts.heredocLine ? pick(' ', '  ', '\t') : spaces(ctx)), { minLength: 1, maxLength: 6 })
    .map((parts) => parts.map(([t, s], i) => (i === parts.length - 1 ? t : t + s)).join(''))
    .map((t) => (!ctx.malformed && /^[\s\u0085]*\[/.test(t) ? `x${t}` : t));
}

// ---------------------------------------------------------------- JSON forms

function jsonString(ctx: Ctx): fc.Arbitrary<string> {
  const escapes = ['\\"', '\\\\', '\\/', '\\b', '\\f', '\\n', '\\r', '\\t', '\\u00e9', '\\u0041', '\\ud83d\\ude00', ' ', '$X', '\''];
  const arbs: fc.Arbitrary<string>[] = [pick('sh', '-c', 'echo hi', '/bin/bash', '', 'a b', '[', ']', ',', 'x=y'), pick(...escapes)];
  if (ctx.unicode) arbs.push(pick(...UNICODE_TEXT.filter((t) => !/[\u0000-\u001f]/.test(t)), '\\ud800', '\\u2028'));
  return fc.array(fc.oneof(...arbs), { maxLength: 3 }).map((p) => `"${p.join('')}"`);
}

function jsonArray(ctx: Ctx): fc.Arbitrary<string> {
  return memo(ctx, 'jsonArray', () => jsonArrayUncached(ctx));
}

function jsonArrayUncached(ctx: Ctx): fc.Arbitrary<string> {
  const items = fc.array(jsonString(ctx), { maxLength: 4 });
  const sep = pick(',', ', ', ' , ', ',\t');
  const wellFormed = fc
    .tuple(items, sep, pick('', ' '), pick('', ' '))
    .map(([xs, s, a, b]) => `[${a}${xs.join(s)}${b}]`);
  // Read as shell form by BuildKit (not JSON), except `[1e999]`, which Go fails to decode as a number.
  const almost = pick(`['a', 'b']`, '["a",]', '["a"', '[a]', '["a"] x', '[ "a" "b" ]', '[1e999]', '[\'x\']', '["\\x"]', '[');
  const rejected = pick('[1]', '["a", 2]', '[["a"]]', '[null]', '[true]', '[{}]', '["a", {"b": 1}]');
  const arbs = [{ weight: 5, arbitrary: wellFormed }, { weight: 1, arbitrary: almost }];
  if (ctx.malformed) arbs.push({ weight: 1, arbitrary: rejected });
  return fc.oneof(...arbs);
}

// ---------------------------------------------------------------- flags

const FLAGS: Record<string, string[]> = {
  from: ['--platform=linux/amd64', '--platform=$BUILDPLATFORM'],
  run: ['--mount=type=cache,target=/root/.cache', '--mount=type=bind,source=.,target=/src', '--mount=type=secret,id=tok',
    '--network=none', '--network=host', '--security=insecure', '--device=/dev/fuse'],
  copy: ['--from=build', '--chown=1000:1000', '--chmod=0755', '--link', '--link=false', '--parents', '--exclude=*.md'],
  add: ['--chown=app', '--chmod=644', '--link', '--keep-git-dir=true', '--checksum=sha256:0123abcd', '--exclude=.git', '--unpack=true'],
  healthcheck: ['--interval=30s', '--timeout=5s', '--start-period=1m', '--start-interval=2s', '--retries=3'],
};

function flags(ctx: Ctx, keyword: string, { clean = false } = {}): fc.Arbitrary<string[]> {
  return memo(ctx, `flags:${keyword}:${clean}`, () => flagsUncached(ctx, keyword, { clean }));
}

function flagsUncached(ctx: Ctx, keyword: string, { clean = false } = {}): fc.Arbitrary<string[]> {
  const own = FLAGS[keyword] ?? [];
  const generic = ['--foo', '--x=', '--x=a\\ b', '--x="a b"', "--x='q'", '--', '--=v', '--X=1'];
  const arbs: fc.Arbitrary<string>[] = [pick(...own, '--foo=bar', '--x'), fc
      .tuple(chars(LOWER, 1, 1), chars(LOWER + '-', 0, 8), fc.option(chars(LOWER + DIGITS + ',=/.:', 0, 8)))
      .map(([a, b, v]) => `--${a}${b}${v === null ? '' : '=' + v}`)];
  if (!clean) arbs.push(pick(...generic, '--x="open', '-x'));
  if (!clean && ctx.unicode) arbs.push(unicodeString(1, 3).map((s) => `--u=${s}`), pick(...UNICODE_SPACES).map((s) => `--a=x${s}--b`));
  return fc.array(fc.oneof(...arbs), { maxLength: 3 });
}

// ---------------------------------------------------------------- instructions

function keyword(ctx: Ctx, name: string, strict = false): fc.Arbitrary<string> {
  return memo(ctx, `keyword:${name}:${strict}`, () => keywordUncached(ctx, name, strict));
}

function keywordUncached(ctx: Ctx, name: string, strict = false): fc.Arbitrary<string> {
  const forms = [name, name, name, name.toLowerCase()];
  const mixed = fc.array(fc.boolean(), { minLength: name.length, maxLength: name.length }).map((up) =>
    [...name].map((c, i) => (up[i] ? c : c.toLowerCase())).join(''),
  );
  if (!ctx.unicode || strict) return fc.oneof(pick(...forms), mixed);
  const trap = fc.nat(name.length - 1).map((i) => {
    const c = name[i]!;
    return name.slice(0, i) + (FOLDING_TRAPS[c] ?? c) + name.slice(i + 1);
  });
  return fc.oneof({ weight: 8, arbitrary: pick(...forms) }, { weight: 2, arbitrary: mixed }, { weight: 1, arbitrary: trap });
}

/** `KEYWORD <sep> flags args`. `strict` keeps the line this instruction (ASCII separator, no folding traps). */
function assemble(ctx: Ctx, kw: string, flagList: string[], args: string, strict = false): fc.Arbitrary<string> {
  const sep = strict ? pick(' ', '\t', '  ') : spaces(ctx);
  return fc
    .tuple(keyword(ctx, kw, strict), sep, pick(' ', ' ', '\t', '  '))
    .map(([k, s1, s2]) => {
      const rest = [...flagList, args].filter((p) => p !== '').join(s2);
      return rest === '' ? k : k + s1 + rest;
    });
}

function simple(ctx: Ctx, kw: string, args: fc.Arbitrary<string>, withFlags = true): fc.Arbitrary<Logical> {
  return fc
    .tuple(withFlags ? flags(ctx, kw.toLowerCase()) : fc.constant([] as string[]), args)
    .chain(([f, a]) => assemble(ctx, kw, f, a))
    .map((text) => ({ text, bodies: [] }));
}

function envValue(ctx: Ctx): fc.Arbitrary<string> {
  return memo(ctx, 'envValue', () => envValueUncached(ctx));
}

function envValueUncached(ctx: Ctx): fc.Arbitrary<string> {
  const e = ctx.esc;
  const plain = chars(LOWER + UPPER + DIGITS + '_./:@+-', 0, 8);
  const quoted = fc.oneof(shellText(ctx), pick('a b', 'x=y', '', "it's")).map((t) => `"${t.replace(/["\\`]/g, '')}"`);
  const single = pick("'a b'", "'$X'", "''", `'${e}'`);
  const arbs: fc.Arbitrary<string>[] = [plain, quoted, single, pick(`a${e} b`, '$HOME', '${X:-y}', 'a"b c"d')];
  if (ctx.unicode) arbs.push(pick(...UNICODE_TEXT.filter((t) => !/[\u0000-\u0020\u007f]/.test(t))));
  return fc.oneof(...arbs);
}

function nameValue(ctx: Ctx, kw: 'ENV' | 'LABEL'): fc.Arbitrary<Logical> {
  const key = kw === 'ENV' ? fc.tuple(chars(UPPER + LOWER + '_', 1, 1), chars(UPPER + LOWER + DIGITS + '_', 0, 6)).map(([a, b]) => a + b) : fc.oneof(fc.tuple(chars(LOWER, 1, 1), chars(LOWER + DIGITS + '.-', 0, 10)).map(([a, b]) => a + b), pick('"my key"', 'org.opencontainers.image.title'));
  const pairs = fc.array(fc.tuple(key, envValue(ctx)).map(([k, v]) => `${k}=${v}`), { minLength: 1, maxLength: 4 }).map((ps) => join(ps));
  const legacy = fc.tuple(key, shellText(ctx)).map(([k, v]) => `${k} x${v}`);
  const bad = pick('A', 'A=1 B', 'A=1 "B"', '"A"');
  const args = ctx.malformed ? fc.oneof(pairs, legacy, bad, fc.constant('')) : fc.oneof({ weight: 4, arbitrary: pairs }, { weight: 1, arbitrary: legacy }, { weight: 1, arbitrary: fc.constant('') });
  return simple(ctx, kw, args, false);
}

function heredocToken(ctx: Ctx): fc.Arbitrary<{ token: string; name: string; chomp: boolean }> {
  const names = ctx.unicode ? ['EOF', 'END', 'eof', 'PY', 'X1', '_A', 'ÉOF'] : ['EOF', 'END', 'eof', 'PY', 'X1', '_A'];
  return fc.record({ n: pick(...names), chomp: fc.boolean(), fd: pick('', '', '', '2'), quote: pick('', '', '"', "'", 'mid', 'bs', 'space') }).map(({ n, chomp, fd, quote }) => {
    const dash = chomp ? '-' : '';
    switch (quote) {
      case '"':
      case "'":
        return { token: `${fd}<<${dash}${quote}${n}${quote}`, name: n, chomp };
      case 'mid':
        return { token: `${fd}<<${dash}${n[0]}"${n.slice(1)}"`, name: n, chomp };
      case 'bs':
        return { token: `${fd}<<${dash}\\${n}`, name: n, chomp };
      case 'space':
        // `<< EOF` is a heredoc but `<<- EOF` is not: only the former can carry a space.
        return { token: `${fd}<< ${n}`, name: n, chomp: false };
      default:
        return { token: `${fd}<<${dash}${n}`, name: n, chomp };
    }
  });
}

function heredocBody(ctx: Ctx, name: string, chomp: boolean): fc.Arbitrary<string[]> {
  return memo(ctx, `heredocBody:${name}:${chomp}`, () => heredocBodyUncached(ctx, name, chomp));
}

function heredocBodyUncached(ctx: Ctx, name: string, chomp: boolean): fc.Arbitrary<string[]> {
  const lines = [
    'echo hello', '$HOME ${X:-y} $(date)', '\tindented', '  spaced', '# not a comment', '', 'RUN not an instruction', 'ENV X',
    `${name} `, `${name}X`, `x${name}`, ` ${name}`, '\\', 'ends with \\', 'tab\tinside', "'quoted'", '"dq"', '<<EOF', 'FROM x',
  ];
  const arbs: fc.Arbitrary<string>[] = [pick(...lines)];
  if (ctx.unicode) arbs.push(pick(...UNICODE_TEXT), unicodeString(0, 6), pick(...UNICODE_SPACES).map((s) => s + name));
  const terminates = (l: string) => {
    const t = l.replace(/[\r\n]+$/, '');
    return t === name || (chomp && t.replace(/^\t+/, '') === name);
  };
  return fc
    .tuple(fc.array(fc.oneof(...arbs), { maxLength: 5 }), chomp ? pick('', '\t', '\t\t') : fc.constant(''), pick('', '', '\r'))
    .map(([body, tabs, cr]) => [...body.filter((l) => !terminates(l)), tabs + name + cr]);
}

function heredocInstruction(ctx: Ctx): fc.Arbitrary<Logical> {
  return fc
    .record({
      kw: pick('RUN', 'RUN', 'COPY', 'ADD'),
      docs: fc.array(heredocToken(ctx), { minLength: 1, maxLength: 3 }),
      before: fc.option(shellText(ctx, { heredocLine: true }), { nil: '' }),
      after: fc.option(shellText(ctx, { heredocLine: true }), { nil: '' }),
    })
    .chain(({ kw, docs, before, after }) =>
      fc
        .tuple(
          flags(ctx, kw.toLowerCase(), { clean: true }),
          fc.tuple(...docs.map((d) => heredocBody(ctx, d.name, d.chomp))),
          fc.array(pick(' ', '  ', '\t'), { minLength: docs.length, maxLength: docs.length }),
        )
        .chain(([f, bodies, seps]) => {
          const tokens = docs.map((d, i) => d.token + seps[i]).join('').trimEnd();
          const dest = kw === 'RUN' ? after : after || '/dst/';
          const args = [kw === 'RUN' ? before : '', tokens, dest].filter((p) => p !== '').join(' ');
          return assemble(ctx, kw, f, args, true).map((text) => ({ text, bodies }));
        }),
    );
}

function plainInstruction(ctx: Ctx): fc.Arbitrary<Logical> {
  const shellOrJson = fc.oneof({ weight: 3, arbitrary: shellText(ctx) }, { weight: 2, arbitrary: jsonArray(ctx) });
  const image = fc.tuple(pick('alpine', 'debian:12', 'busybox@sha256:abc', 'scratch', '$BASE', 'golang:1.22 AS build', 'a as B'), fc.option(pick(' AS x', ' as y'), { nil: '' })).map(([a, b]) => a + b);
  const files = fc.array(pick('a', 'src/', '*.txt', '/app/', '.', 'https://example.com/f.tgz', 'dir with space', 'x\\ y'), { minLength: 1, maxLength: 4 }).map((x) => join(x));
  const listOrJson = fc.oneof({ weight: 3, arbitrary: files }, { weight: 1, arbitrary: jsonArray(ctx) });
  const arbs: fc.Arbitrary<Logical>[] = [
    simple(ctx, 'FROM', image),
    simple(ctx, 'RUN', shellOrJson),
    simple(ctx, 'CMD', shellOrJson),
    simple(ctx, 'ENTRYPOINT', shellOrJson),
    simple(ctx, 'SHELL', jsonArray(ctx)),
    nameValue(ctx, 'ENV'),
    nameValue(ctx, 'LABEL'),
    simple(ctx, 'COPY', listOrJson),
    simple(ctx, 'ADD', listOrJson),
    simple(ctx, 'VOLUME', listOrJson),
    simple(ctx, 'ARG', fc.array(pick('A', 'B=1', 'C="x y"', 'D=', 'E=$A', "F='q'", 'TARGETOS'), { maxLength: 3 }).map((x) => join(x))),
    simple(ctx, 'EXPOSE', fc.array(pick('80', '443/tcp', '53/udp', '8000-8010', '$PORT'), { maxLength: 3 }).map((x) => join(x))),
    simple(ctx, 'WORKDIR', pick('/app', '/a b', '$HOME/x', 'rel', '')),
    simple(ctx, 'USER', pick('root', '1000:1000', 'app:$GID', '')),
    simple(ctx, 'STOPSIGNAL', pick('SIGTERM', '9', '')),
    simple(ctx, 'MAINTAINER', pick('Jane <jane@example.com>', '')),
    simple(ctx, 'HEALTHCHECK', fc.oneof(pick('NONE', '', 'CMD'), shellOrJson.map((c) => `CMD ${c}`), shellOrJson.map((c) => `cmd\t${c}`))),
    simple(ctx, 'FOO', fc.oneof(shellText(ctx), fc.constant(''))),
  ];
  if (ctx.unicode) arbs.push(fc.tuple(pick('ÉTAPE', 'ΣΟΣ', 'RUN\u00a0echo', 'İNSTALL'), shellText(ctx)).map(([k, a]) => ({ text: `${k} ${a}`, bodies: [] })));
  if (ctx.malformed) arbs.push(pick('ONBUILD', 'RUN', 'ENV', 'LABEL').map((text) => ({ text, bodies: [] })));
  return fc.oneof(...arbs);
}

/** One instruction: plain, with heredocs, or behind ONBUILD. */
function instruction(ctx: Ctx): fc.Arbitrary<Logical> {
  return memo(ctx, 'instruction', () => instructionUncached(ctx));
}

function instructionUncached(ctx: Ctx): fc.Arbitrary<Logical> {
  const base = ctx.heredocs ? fc.oneof({ weight: 5, arbitrary: plainInstruction(ctx) }, { weight: 2, arbitrary: heredocInstruction(ctx) }) : plainInstruction(ctx);
  const onbuild = fc
    .tuple(keyword(ctx, 'ONBUILD', true), fc.option(pick('--x ', '--foo=1 '), { nil: '' }), base)
    .map(([k, f, inner]) => ({ text: `${k} ${f}${inner.text}`, bodies: inner.bodies }));
  return fc.oneof({ weight: 8, arbitrary: base }, { weight: 1, arbitrary: onbuild });
}

// ---------------------------------------------------------------- layout on lines

function eol(): fc.Arbitrary<string> {
  return fc.oneof({ weight: 6, arbitrary: fc.constant('\n') }, { weight: 2, arbitrary: fc.constant('\r\n') });
}

/** A line that may sit inside a continuation without ending it: blank, whitespace or a comment. */
function filler(ctx: Ctx): fc.Arbitrary<string> {
  return memo(ctx, 'filler', () => fillerUncached(ctx));
}

function fillerUncached(ctx: Ctx): fc.Arbitrary<string> {
  const lines = ['', '', '   ', '\t', '# comment', '#', '  # indented comment', `# ends with escape ${ctx.esc}`];
  // Not U+FEFF: Go does not count it as whitespace, so the line would carry text.
  return ctx.unicode ? fc.oneof(pick(...lines), pick('# ünïcode ☃', ...UNICODE_SPACES.filter((c) => c !== '\ufeff'))) : pick(...lines);
}

/** BuildKit's continuation test: the escape token, not itself escaped, then only spaces and tabs. */
function continues(line: string, esc: DockerfileEscapeToken): boolean {
  const e = esc === '\\' ? '\\\\' : '`';
  return new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`).test(line);
}

/** Where a logical line may be cut: never after an escape token, nor before a comment or whitespace-only tail. */
function cutPoints(text: string, esc: DockerfileEscapeToken): number[] {
  const points: number[] = [];
  for (let i = 1; i < text.length; i++) {
    const prev = text.charCodeAt(i - 1);
    if (text[i - 1] === esc || (prev >= 0xd800 && prev <= 0xdbff)) continue;
    if (/^[\s\u0085]*(#|$)/.test(text.slice(i))) continue;
    points.push(i);
  }
  return points;
}

function layout(ctx: Ctx, ins: Logical, { dangling = false } = {}): fc.Arbitrary<string> {
  let text = ins.text;
  if (continues(text, ctx.esc)) text += '.';
  const points = cutPoints(text, ctx.esc);
  return fc
    .record({
      indent: ctx.unicode ? pick('', '', '', ' ', '\t', '\u00a0', '\u3000') : pick('', '', '', ' ', '\t', '  '),
      cuts: points.length > 0 ? fc.subarray(points, { maxLength: Math.min(3, points.length) }) : fc.constant([] as number[]),
      fillers: fc.array(fc.array(filler(ctx), { maxLength: 2 }), { minLength: 3, maxLength: 3 }),
      afterEscape: fc.array(pick('', '', '', ' ', '\t', ' \t'), { minLength: 3, maxLength: 3 }),
      trailing: pick('', '', '', ' ', '\t', '  '),
      eol: eol(),
    })
    .map(({ indent, cuts, fillers, afterEscape, trailing, eol: nl }) => {
      const lines: string[] = [];
      let from = 0;
      cuts.forEach((cut, i) => {
        lines.push((i === 0 ? indent : '') + text.slice(from, cut) + ctx.esc + afterEscape[i]!, ...fillers[i]!);
        from = cut;
      });
      let last = (cuts.length === 0 ? indent : '') + text.slice(from);
      if (!continues(last + trailing, ctx.esc)) last += trailing;
      lines.push(dangling ? last + ctx.esc : last);
      for (const body of ins.bodies) lines.push(...body);
      return lines.join(nl) + (dangling ? '' : nl);
    });
}

// ---------------------------------------------------------------- directives and the whole file

interface Header {
  text: string;
  esc: DockerfileEscapeToken;
}

function header(ctx: Ctx): fc.Arbitrary<Header> {
  const value = (key: string): fc.Arbitrary<string> => {
    if (key === 'escape') {
      const valid = pick('\\', '`');
      return ctx.malformed ? fc.oneof({ weight: 4, arbitrary: valid }, { weight: 1, arbitrary: pick('x', '\\\\', '"`"') }) : valid;
    }
    if (key === 'syntax') return pick('docker/dockerfile:1', 'docker/dockerfile:1.7-labs', 'example.com/frontend:latest', 'x y');
    return pick('skip=all', 'error=true', 'skip=JSONArgsRecommended,StageNameCasing;error=true');
  };
  const directive = pick('syntax', 'escape', 'check').chain((key) =>
    fc.record({
      key: fc.constant(key),
      value: value(key),
      spelling: pick(key, key, key.toUpperCase(), key[0]!.toUpperCase() + key.slice(1)),
      form: pick('#K=V', '# K=V', '#  K = V', '#\tK=V  ', '  # K=V', '# K =V\t'),
    }),
  );
  const unique = fc.uniqueArray(directive, { maxLength: 3, selector: (d) => d.key });
  const list = ctx.malformed ? fc.oneof({ weight: 4, arbitrary: unique }, { weight: 1, arbitrary: fc.array(directive, { maxLength: 4 }) }) : unique;
  // What ends the directive zone; a directive after it is an ordinary comment.
  const end = pick('', '', '\n', '# plain comment\n', '# unknown=directive\n', '#!/usr/bin/env buildctl\n', '#\n', '\n# escape=`\n', '\n# syntax=late\n');
  return fc
    .record({ bom: ctx.unicode ? fc.boolean() : fc.constant(false), directives: list, end, nl: eol() })
    .map(({ bom, directives, end, nl }) => {
      const lines = directives.map((d) => d.form.replace('K', d.spelling).replace('V', d.value) + nl);
      const first = directives.find((d) => d.key === 'escape');
      const esc: DockerfileEscapeToken = first?.value === '`' ? '`' : '\\';
      return { text: (bom ? '\ufeff' : '') + lines.join('') + end, esc };
    });
}

type Item = { kind: 'instruction'; text: string } | { kind: 'line'; text: string; late: boolean };

function body(ctx: Ctx, maxInstructions: number): fc.Arbitrary<string> {
  const comment = ctx.unicode ? pick('# a comment', '#', '   # indented', '#\tTab', '# 日本語 ☃') : pick('# a comment', '#', '   # indented', '#\tTab');
  const blank = ctx.unicode ? pick('', '', '  ', '\t', ...UNICODE_SPACES) : pick('', '', '  ', '\t', '\v');
  const line = fc.oneof(comment.map((text) => ({ text, late: false })), blank.map((text) => ({ text, late: false })), pick('# escape=`', '# syntax=x').map((text) => ({ text, late: true })));
  const item: fc.Arbitrary<Item> = fc.oneof(
    { weight: 5, arbitrary: instruction(ctx).chain((ins) => layout(ctx, ins)).map((text) => ({ kind: 'instruction' as const, text })) },
    { weight: 2, arbitrary: fc.tuple(line, eol()).map(([l, nl]) => ({ kind: 'line' as const, text: l.text + nl, late: l.late })) },
  );
  const first = instruction(ctx).chain((ins) => layout(ctx, ins)).map((text) => ({ kind: 'instruction' as const, text }));
  const plainTail = fc.record({ kw: pick('RUN', 'CMD', 'LABEL'), rest: shellText(newCtx({ ...ctx, unicode: false })) }).map(({ kw, rest }) => ({ text: `${kw} x ${rest}`, bodies: [] }));
  const tails: fc.Arbitrary<string>[] = [fc.constant(''), plainTail.chain((ins) => layout(ctx, ins, { dangling: true }))];
  if (ctx.malformed) tails.push(pick('RUN <<EOF\necho never ends\n', 'COPY <<A <<B /x\na\nA\nb\n', 'ENV A\n'));
  return fc
    .record({
      items: fc.array(item, { maxLength: maxInstructions + 4 }),
      first: ctx.malformed ? fc.option(first, { nil: undefined }) : first,
      tail: fc.oneof({ weight: 8, arbitrary: tails[0]! }, ...tails.slice(1).map((t) => ({ weight: 1, arbitrary: t }))),
      dropFinalNewline: fc.boolean(),
    })
    .map(({ items, first, tail, dropFinalNewline }) => {
      let seenInstruction = false;
      const kept = items.filter((it) => {
        seenInstruction ||= it.kind === 'instruction';
        return it.kind === 'instruction' || !it.late || seenInstruction;
      });
      if (first && !kept.some((it) => it.kind === 'instruction')) kept.push(first);
      let text = kept.map((it) => it.text).join('') + tail;
      if (dropFinalNewline && tail === '') text = text.replace(/\r?\n$/, '');
      return text;
    });
}

/**
 * Dockerfile text: directives, then instructions (every keyword, flags, shell
 * and JSON forms, heredocs, ONBUILD), comments and blank lines, laid out with
 * continuations that have comments and blank lines inside, CRLF endings,
 * tabs and trailing spaces.
 *
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { dockerfileArbitrary } from 'layerkit/testing';
 * import { parseDockerfile } from 'layerkit';
 *
 * fc.assert(fc.property(dockerfileArbitrary(), (text) => {
 *   parseDockerfile(text); // BuildKit accepts every one of these
 * }));
 * ```
 */
export function dockerfileArbitrary(options: DockerfileArbitraryOptions = {}): fc.Arbitrary<string> {
  const base = {
    malformed: options.malformed ?? false,
    unicode: options.unicode ?? true,
    heredocs: options.heredocs ?? true,
  };
  const max = options.maxInstructions ?? 8;
  const bodies = { '\\': body(newCtx({ ...base, esc: '\\' }), max), '`': body(newCtx({ ...base, esc: '`' }), max) };
  return header(newCtx({ ...base, esc: '\\' })).chain((h) => bodies[h.esc].map((b) => h.text + b));
}

/**
 * Text that is Dockerfile-shaped only in places: keywords, continuations,
 * heredoc markers, directives and JSON brackets mixed with arbitrary Unicode
 * (lone surrogates included). For "never crashes" properties of a parser.
 *
 * @example
 * ```ts
 * fc.assert(fc.property(dockerfileLikeTextArbitrary(), (text) => {
 *   try { parseDockerfile(text); } catch (e) { if (!(e instanceof DockerfileSyntaxError)) throw e; }
 * }));
 * ```
 */
export function dockerfileLikeTextArbitrary(): fc.Arbitrary<string> {
  const fragments = pick(
    'FROM a', 'RUN ', 'ONBUILD ', 'ENV ', 'LABEL a=', 'HEALTHCHECK CMD ', 'COPY --from=x ', 'ADD ', 'ARG ', 'SHELL ', 'CMD ',
    '\\\n', '`\n', '\\', '`', '\n', '\r\n', '\r', ' ', '\t', '#', '# escape=`\n', '# escape=\\\n', '# syntax=x\n', '# check=y\n',
    '<<EOF', '<<-EOF', "<<'EOF'", '<<"EOF"', '\nEOF\n', '\tEOF', '[', ']', '["a"', '"', "'", '[1]', '[[]]', '=', '--', '--flag=',
    '$', '${', '}', '${A:-', '\ufeff', '\u0085', '\u00a0', '\u2028', '\u0000', 'İ', 'ſ',
  );
  const surrogates = fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)), maxLength: 3 });
  const piece = fc.oneof(
    { weight: 6, arbitrary: fragments },
    { weight: 2, arbitrary: fc.string({ maxLength: 8 }) },
    { weight: 2, arbitrary: fc.string({ unit: codePoint, maxLength: 8 }) },
    { weight: 1, arbitrary: surrogates },
    { weight: 2, arbitrary: dockerfileArbitrary({ malformed: true, maxInstructions: 3 }) },
  );
  return fc.array(piece, { maxLength: 30 }).map((ps) => ps.join(''));
}

// ---------------------------------------------------------------- shell words

/** Variable names: plain, digit-led (`$1`), BuildKit's special parameters and Unicode letters and digits. */
const VAR_NAMES = ['A', 'B', 'FOO', '_x', 'a1', 'HOME', 'EMPTY', 'UNSET', 'é', 'Ωmega', '٣', 'x٣'];
const SPECIAL_PARAMS = ['@', '*', '#', '?', '-', '$', '!', '0', '1', '12'];

/** Options of {@link shellWordArbitrary}. */
export interface ShellWordArbitraryOptions {
  /** Also generate words BuildKit's lexer rejects (unterminated quotes, `${}`, unsupported modifiers). Default `true`. */
  malformed?: boolean;
  /** Nesting depth of `${…}` words inside `${…}` words. Default 2. */
  maxDepth?: number;
}

/**
 * A word for BuildKit's shell lexer (`ProcessWord`/`ProcessWords`, escape `\`):
 * literals, escapes, single and double quotes, `$name`, `$1`, `$@`, and
 * `${name}` with every operator (`:-` `-` `:+` `+` `:?` `?` `#` `##` `%`
 * `%%` `/` `//`), patterns with `*`, `?` and escapes, nesting, `<<`, Unicode
 * letters and whitespace.
 *
 * @example
 * ```ts
 * fc.assert(fc.property(shellWordArbitrary(), shellEnvArbitrary(), (word, env) => {
 *   // expand `word` in `env` with your lexer and compare with a reference
 * }));
 * ```
 */
export function shellWordArbitrary(options: ShellWordArbitraryOptions = {}): fc.Arbitrary<string> {
  const malformed = options.malformed ?? true;
  const maxDepth = options.maxDepth ?? 2;
  const literal = fc.oneof(
    pick('a', 'foo', 'x.y', '/usr/bin', ' ', '  ', '\t', '-', ':', '=', '*', '?', '#', '%', '/', '}', '{', '~', '@', '!', ',', '<', '<<', '<< ', '<<\t'),
    pick('é', '한국어', '😀', '\u00a0', '\u0085', '\u2028', '\u3000', '\ufeff', '\u200b', '\r', '\v'),
    chars('abcxyz ', 1, 4),
  );
  const escape = pick('\\ ', '\\$', '\\"', "\\'", '\\\\', '\\n', '\\a', '\\{', '\\}', '\\*', '\\/', '\\é');
  const simpleVar = fc.oneof(pick(...VAR_NAMES), pick(...SPECIAL_PARAMS)).map((n) => `$${n}`);
  const broken = pick('$', '$ ', '${', '${}', '${:', '${:-x}', '${A', '${A:-x', '${{A}}', '${A!}', '${A:#x}', '${A:%x}', '${A^}', '${A/x', '"open', "'open", '\\');
  const pattern = fc
    .array(pick('*', '?', 'a', 'b', '.', 'x*', '*.gz', '\\*', '\\?', '\\}', '\\/', '\\\\', '[', '(', '+', '^', '$B', 'é'), { maxLength: 3 })
    .map((p) => p.join(''));
  const word: fc.Arbitrary<string> = fc.letrec<{ word: string; part: string; braced: string; dquoted: string }>((tie) => ({
    word: fc.array(tie('part'), { maxLength: 5 }).map((ps) => ps.join('')),
    part: fc.oneof(
      { depthSize: 'small', maxDepth },
      { weight: 4, arbitrary: literal },
      { weight: 2, arbitrary: escape },
      { weight: 2, arbitrary: simpleVar },
      { weight: 3, arbitrary: tie('braced') },
      { weight: 2, arbitrary: tie('dquoted') },
      { weight: 1, arbitrary: chars("abc $\"\\", 0, 4).map((t) => `'${t}'`) },
      { weight: malformed ? 1 : 0, arbitrary: broken },
    ),
    braced: fc.oneof(
      { depthSize: 'small', maxDepth },
      fc.oneof(pick(...VAR_NAMES), pick(...SPECIAL_PARAMS)).map((n) => `\${${n}}`),
      fc
        .tuple(pick(...VAR_NAMES), pick(':-', '-', ':+', '+', ':?', '?', '#', '##', '%', '%%'), fc.oneof(pattern, tie('word')))
        .map(([n, op, w]) => `\${${n}${op}${w}}`),
      fc.tuple(pick(...VAR_NAMES), pick('/', '//'), pattern, fc.oneof(pattern, tie('word'))).map(([n, op, p, r]) => `\${${n}${op}${p}/${r}}`),
    ),
    dquoted: fc
      .array(fc.oneof(literal.filter((l) => !l.includes('"')), escape, simpleVar, tie('braced'), pick("'", '\\`', '`')), { maxLength: 4 })
      .map((ps) => `"${ps.join('')}"`),
  })).word;
  return word;
}

/**
 * An environment for {@link shellWordArbitrary}: `NAME=value` entries (a bare
 * `NAME` is set and empty; a later entry wins) over the same names the words
 * use, with values that have spaces, globs, quotes and Unicode whitespace.
 *
 * @example
 * ```ts
 * fc.sample(shellEnvArbitrary(), 1); // e.g. [['A=a b', 'HOME=/root', 'EMPTY']]
 * ```
 */
export function shellEnvArbitrary(): fc.Arbitrary<string[]> {
  const value = pick('', 'x', 'a b', '  lead', 'trail  ', 'a*b', '/usr/local/bin', 'foo.tar.gz', 'a\tb', '"q"', "'s'", '$B', '\\', 'é ü', '\u00a0x\u00a0', 'x\u0085y', 'aaa', 'abcabc', 'a=b', '}', '/');
  const entry = fc.oneof(
    { weight: 6, arbitrary: fc.tuple(pick(...VAR_NAMES.filter((n) => n !== 'UNSET')), value).map(([n, v]) => `${n}=${v}`) },
    { weight: 1, arbitrary: pick('EMPTY', 'A') },
  );
  return fc.array(entry, { maxLength: 6 });
}
