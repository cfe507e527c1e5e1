/**
 * fast-check arbitraries for Dockerfiles and shell words, for property tests
 * of anything that reads Dockerfiles.
 *
 * The generated text goes where parsers go wrong: every instruction and its
 * flags, line continuations with comments and blank lines inside, the `\`
 * and `` ` `` escape directives, `syntax`/`check` directives, JSON and
 * almost-JSON forms, heredocs (`<<EOF`, `<<-EOF`, quoted delimiters, several
 * per line, inside ONBUILD), tabs, CR, trailing spaces, Unicode white space
 * and case-folding traps. By default every generated Dockerfile is one that
 * BuildKit's parser accepts; `malformed: true` mixes in what it rejects.
 * @module
 */
import fc from 'fast-check';
import {
  chars, DIGITS, flags, jsonArray, keyword, LOWER, memo, newContext, pick, shellText, spaces, UNICODE_SPACES, UNICODE_TEXT,
  UPPER, unicodeString, type DockerfileEscapeToken, type GenContext,
} from './dockerfile-parts.js';

export type { DockerfileEscapeToken } from './dockerfile-parts.js';
export { shellEnvArbitrary, shellWordArbitrary, type ShellWordArbitraryOptions } from './shell-words.js';

/**
 * Options of {@link dockerfileArbitrary}.
 * @example
 * ```ts
 * // Only ASCII, and also Dockerfiles BuildKit rejects: for "accepts or reports" properties.
 * dockerfileArbitrary({ unicode: false, malformed: true, maxInstructions: 4 });
 * ```
 */
export interface DockerfileArbitraryOptions {
  /**
   * Also generate what BuildKit rejects: ENV/LABEL without a value or `=`,
   * JSON arrays of non-strings, duplicate or invalid directives, unterminated
   * heredocs, files without instructions. Default `false`: BuildKit's parser
   * accepts every generated Dockerfile.
   */
  malformed?: boolean;
  /** Non-ASCII text, Unicode white space, a BOM, case-folding traps. Default `true`. */
  unicode?: boolean;
  /** `RUN`/`COPY`/`ADD` heredocs. Default `true`. */
  heredocs?: boolean;
  /** Most instructions in the body (comments and blank lines come on top). Default 8. */
  maxInstructions?: number;
}

/** An instruction before it is laid out on physical lines. */
interface Logical {
  text: string;
  /** The lines of each heredoc body, terminator last; they follow the instruction's last line. */
  bodies: string[][];
}

const words = (parts: string[]) => parts.join(' ');

/** `KEYWORD flags args`. `strict` keeps the line this instruction for BuildKit: ASCII separator, no folding traps. */
function assemble(ctx: GenContext, kw: string, flagList: string[], args: string, strict = false): fc.Arbitrary<string> {
  return fc
    .tuple(keyword(ctx, kw, strict), strict ? pick(' ', '\t', '  ') : spaces(ctx), pick(' ', ' ', '\t', '  '))
    .map(([k, s1, s2]) => {
      const rest = [...flagList, args].filter((p) => p !== '').join(s2);
      return rest === '' ? k : k + s1 + rest;
    });
}

function simple(ctx: GenContext, kw: string, args: fc.Arbitrary<string>, withFlags = true): fc.Arbitrary<Logical> {
  return fc
    .tuple(withFlags ? flags(ctx, kw.toLowerCase()) : fc.constant([] as string[]), args)
    .chain(([f, a]) => assemble(ctx, kw, f, a))
    .map((text) => ({ text, bodies: [] }));
}

/** An ENV/LABEL value: bare values never hold white space (BuildKit would split there), quoted ones may. */
function envValue(ctx: GenContext): fc.Arbitrary<string> {
  return memo(ctx, 'envValue', () => {
    const e = ctx.esc;
    const arbs: fc.Arbitrary<string>[] = [
      chars(LOWER + UPPER + DIGITS + '_./:@+-', 0, 8),
      fc.oneof(shellText(ctx), pick('a b', 'x=y', '', "it's")).map((t) => `"${t.replace(/["\\`]/g, '')}"`),
      pick("'a b'", "'$X'", "''", `'${e}'`, `a${e} b`, '$HOME', '${X:-y}', 'a"b c"d'),
    ];
    if (ctx.unicode) arbs.push(pick(...UNICODE_TEXT.filter((t) => !/[\u0000-\u0020\u007f]/.test(t))));
    return fc.oneof(...arbs);
  });
}

function nameValue(ctx: GenContext, kw: 'ENV' | 'LABEL'): fc.Arbitrary<Logical> {
  const key =
    kw === 'ENV'
      ? fc.tuple(chars(UPPER + LOWER + '_', 1, 1), chars(UPPER + LOWER + DIGITS + '_', 0, 6)).map(([a, b]) => a + b)
      : fc.oneof(fc.tuple(chars(LOWER, 1, 1), chars(LOWER + DIGITS + '.-', 0, 10)).map(([a, b]) => a + b), pick('"my key"', '=v'));
  const pairs = fc.array(fc.tuple(key, envValue(ctx)).map(([k, v]) => `${k}=${v}`), { minLength: 1, maxLength: 4 }).map(words);
  // The legacy `ENV name value…` form: the first word has no `=`.
  const legacy = fc.tuple(key.filter((k) => !k.includes('=')), shellText(ctx)).map(([k, v]) => `${k} x${v}`);
  const arbs = [{ weight: 4, arbitrary: pairs }, { weight: 1, arbitrary: legacy }, { weight: 1, arbitrary: fc.constant('') }];
  if (ctx.malformed) arbs.push({ weight: 2, arbitrary: pick('A', 'A=1 B', 'A=1 "B"', '"A"', "'A B'") });
  return simple(ctx, kw, fc.oneof(...arbs), false);
}

interface HeredocStart {
  token: string;
  /** The terminator BuildKit will look for. */
  name: string;
  chomp: boolean;
}

function heredocStart(ctx: GenContext): fc.Arbitrary<HeredocStart> {
  return memo(ctx, 'heredocStart', () => {
    const names = ctx.unicode ? ['EOF', 'END', 'eof', 'PY', 'X1', '_A', 'ÉOF'] : ['EOF', 'END', 'eof', 'PY', 'X1', '_A'];
    const forms = pick('', '', '"', "'", 'mid', 'backslash', 'space', 'spaced-name');
    return fc.record({ n: pick(...names), chomp: fc.boolean(), fd: pick('', '', '', '2'), form: forms }).map(({ n, chomp, fd, form }) => {
      const dash = chomp ? '-' : '';
      switch (form) {
        case '"':
        case "'":
          return { token: `${fd}<<${dash}${form}${n}${form}`, name: n, chomp };
        case 'mid': // partly quoted: still not expanded
          return { token: `${fd}<<${dash}${n[0]}"${n.slice(1)}"`, name: n, chomp };
        case 'backslash': // BuildKit drops the backslash and still expands
          return { token: `${fd}<<${dash}\\${n}`, name: n, chomp };
        case 'space': // `<< EOF` starts a heredoc, `<<- EOF` does not
          return { token: `${fd}<< ${n}`, name: n, chomp: false };
        case 'spaced-name':
          return { token: `${fd}<<${dash}"${n} ${n}"`, name: `${n} ${n}`, chomp };
        default:
          return { token: `${fd}<<${dash}${n}`, name: n, chomp };
      }
    });
  });
}

/** Body lines (none of which ends the heredoc early) and the terminator, tab-indented under `<<-`, maybe with `\r`. */
function heredocBody(ctx: GenContext, name: string, chomp: boolean): fc.Arbitrary<string[]> {
  return memo(ctx, `heredocBody:${name}:${chomp}`, () => {
    const lines = [
      'echo hello', '$HOME ${X:-y} $(date)', '\tindented', '  spaced', '# not a comment', '', 'RUN not an instruction', 'ENV X',
      `${name} `, `${name}X`, `x${name}`, ` ${name}`, '\\', 'ends with \\', 'tab\tinside', "'quoted'", '"dq"', '<<EOF', 'FROM x',
      `\t${name}`, '\r',
    ];
    const arbs: fc.Arbitrary<string>[] = [pick(...lines)];
    if (ctx.unicode) arbs.push(pick(...UNICODE_TEXT), unicodeString(0, 6), pick(...UNICODE_SPACES).map((s) => s + name));
    const terminates = (line: string) => {
      const t = line.replace(/[\r\n]+$/, '');
      return t === name || (chomp && t.replace(/^\t+/, '') === name);
    };
    return fc
      .tuple(fc.array(fc.oneof(...arbs), { maxLength: 5 }), chomp ? pick('', '\t', '\t\t') : fc.constant(''), pick('', '', '\r'))
      .map(([body, tabs, cr]) => [...body.filter((l) => !terminates(l)), tabs + name + cr]);
  });
}

function heredocInstruction(ctx: GenContext): fc.Arbitrary<Logical> {
  return fc
    .record({
      kw: pick('RUN', 'RUN', 'COPY', 'ADD'),
      starts: fc.array(heredocStart(ctx), { minLength: 1, maxLength: 3 }),
      before: fc.option(shellText(ctx, true), { nil: '' }),
      after: fc.option(shellText(ctx, true), { nil: '' }),
      gaps: fc.array(pick(' ', '  ', '\t'), { minLength: 3, maxLength: 3 }),
    })
    .chain(({ kw, starts, before, after, gaps }) =>
      fc.tuple(flags(ctx, kw.toLowerCase(), true), fc.tuple(...starts.map((d) => heredocBody(ctx, d.name, d.chomp)))).chain(([f, bodies]) => {
        const tokens = starts.map((d, i) => d.token + gaps[i]).join('').trimEnd();
        const args = kw === 'RUN' ? [before, tokens, after] : [tokens, after || '/dst/'];
        return assemble(ctx, kw, f, args.filter((p) => p !== '').join(' '), true).map((text) => ({ text, bodies }));
      }),
    );
}

function plainInstruction(ctx: GenContext): fc.Arbitrary<Logical> {
  const shellOrJson = fc.oneof({ weight: 3, arbitrary: shellText(ctx) }, { weight: 2, arbitrary: jsonArray(ctx) });
  const image = fc
    .tuple(pick('alpine', 'debian:12', 'busybox@sha256:abc', 'scratch', '$BASE', 'golang:1.22 AS build', 'a as B'), pick('', '', ' AS x', ' as y'))
    .map(([a, b]) => a + b);
  const files = fc.array(pick('a', 'src/', '*.txt', '/app/', '.', 'https://example.com/f.tgz', 'dir with space', 'x\\ y'), { minLength: 1, maxLength: 4 }).map(words);
  const listOrJson = fc.oneof({ weight: 3, arbitrary: files }, { weight: 1, arbitrary: jsonArray(ctx) });
  // HEALTHCHECK finds its type word byte by byte: non-ASCII there splits inside a character.
  const healthType = ctx.unicode ? fc.oneof(pick('CMD', 'cmd', 'NONE'), unicodeString(1, 2)) : pick('CMD', 'cmd', 'NONE');
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
    simple(ctx, 'ARG', fc.array(pick('A', 'B=1', 'C="x y"', 'D=', 'E=$A', "F='q'", 'TARGETOS'), { maxLength: 3 }).map(words)),
    simple(ctx, 'EXPOSE', fc.array(pick('80', '443/tcp', '53/udp', '8000-8010', '$PORT'), { maxLength: 3 }).map(words)),
    simple(ctx, 'WORKDIR', pick('/app', '/a b', '$HOME/x', 'rel', '')),
    simple(ctx, 'USER', pick('root', '1000:1000', 'app:$GID', '')),
    simple(ctx, 'STOPSIGNAL', pick('SIGTERM', '9', '')),
    simple(ctx, 'MAINTAINER', pick('Jane <jane@example.com>', '')),
    simple(ctx, 'HEALTHCHECK', fc.oneof(pick('NONE', '', 'CMD'), fc.tuple(healthType, spaces(ctx), shellOrJson).map((p) => p.join('')))),
    simple(ctx, 'FOO', fc.oneof(shellText(ctx), fc.constant(''))),
  ];
  if (ctx.unicode) arbs.push(fc.tuple(pick('ÉTAPE', 'ΣΟΣ', 'RUN\u00a0echo', 'İNSTALL'), shellText(ctx)).map(([k, a]) => ({ text: `${k} ${a}`, bodies: [] })));
  if (ctx.malformed) arbs.push(pick('ONBUILD', 'RUN', 'ENV', 'LABEL', 'ONBUILD ONBUILD', 'RUN--x').map((text) => ({ text, bodies: [] })));
  return fc.oneof(...arbs);
}

/** One instruction: plain, with heredocs, or behind ONBUILD (with flags, even nested). */
function instruction(ctx: GenContext): fc.Arbitrary<Logical> {
  return memo(ctx, 'instruction', () => {
    const base = ctx.heredocs
      ? fc.oneof({ weight: 5, arbitrary: plainInstruction(ctx) }, { weight: 2, arbitrary: heredocInstruction(ctx) })
      : plainInstruction(ctx);
    // BuildKit looks for heredocs one ONBUILD deep only: nested ONBUILD gets no heredocs.
    const onbuild = fc
      .tuple(keyword(ctx, 'ONBUILD', true), pick('', '', '--x ', '--foo=1 ', 'ONBUILD '), base)
      .filter(([, prefix, inner]) => prefix !== 'ONBUILD ' || inner.bodies.length === 0)
      .map(([k, prefix, inner]) => ({ text: `${k} ${prefix}${inner.text}`, bodies: inner.bodies }));
    return fc.oneof({ weight: 8, arbitrary: base }, { weight: 1, arbitrary: onbuild });
  });
}

// ---------------------------------------------------------------- physical lines

function eol(ctx: GenContext): fc.Arbitrary<string> {
  return memo(ctx, 'eol', () => fc.oneof({ weight: 6, arbitrary: fc.constant('\n') }, { weight: 2, arbitrary: fc.constant('\r\n') }, { weight: 1, arbitrary: fc.constant('\r\r\n') }));
}

/** Lines that may sit inside a continuation without ending it: empty, blank or a comment. */
function filler(ctx: GenContext): fc.Arbitrary<string> {
  return memo(ctx, 'filler', () => {
    const lines = pick('', '', '   ', '\t', '# comment', '#', '  # indented comment', `# ends with escape ${ctx.esc}`);
    // Not U+FEFF: Go does not count it as white space, so the line would carry text.
    return ctx.unicode ? fc.oneof(lines, pick('# ünïcode ☃', ...UNICODE_SPACES.filter((c) => c !== '\ufeff'))) : lines;
  });
}

/** BuildKit's continuation test: the escape token, not preceded by another, then only spaces and tabs. */
function continues(line: string, esc: DockerfileEscapeToken): boolean {
  const e = esc === '\\' ? '\\\\' : '`';
  return new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`).test(line);
}

/** Where a logical line may be cut: not after an escape token, nor before a comment or a blank tail. */
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

/** Lays an instruction out on lines: indentation, up to three continuations with fillers, trailing blanks, heredoc bodies. */
function layout(ctx: GenContext, ins: Logical, dangling = false): fc.Arbitrary<string> {
  const text = continues(ins.text, ctx.esc) ? ins.text + '.' : ins.text;
  const points = cutPoints(text, ctx.esc);
  const blank = pick('', '', '', ' ', '\t', ' \t');
  return fc
    .record({
      indent: ctx.unicode ? pick('', '', '', ' ', '\t', '\u00a0', '\u3000') : pick('', '', '', ' ', '\t', '  '),
      cuts: points.length > 0 ? fc.subarray(points, { maxLength: Math.min(3, points.length) }) : fc.constant([] as number[]),
      fillers: fc.array(fc.array(filler(ctx), { maxLength: 2 }), { minLength: 3, maxLength: 3 }),
      afterEscape: fc.array(blank, { minLength: 3, maxLength: 3 }),
      trailing: blank,
      nl: eol(ctx),
    })
    .map(({ indent, cuts, fillers, afterEscape, trailing, nl }) => {
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

// ---------------------------------------------------------------- the whole file

/** The directives at the top, with the escape token they put in force. */
function header(ctx: GenContext): fc.Arbitrary<{ text: string; esc: DockerfileEscapeToken }> {
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
  return fc.record({ bom: ctx.unicode ? fc.boolean() : fc.constant(false), directives: list, end, nl: eol(ctx) }).map(({ bom, directives, end, nl }) => {
    const lines = directives.map((d) => d.form.replace('K', d.spelling).replace('V', d.value) + nl);
    const esc: DockerfileEscapeToken = directives.find((d) => d.key === 'escape')?.value === '`' ? '`' : '\\';
    return { text: (bom ? '\ufeff' : '') + lines.join('') + end, esc };
  });
}

type Item = { kind: 'instruction'; text: string } | { kind: 'line'; text: string; directiveLike: boolean };

function body(ctx: GenContext, maxInstructions: number): fc.Arbitrary<string> {
  const comment = ctx.unicode ? pick('# a comment', '#', '   # indented', '#\tTab', '# 日本語 ☃') : pick('# a comment', '#', '   # indented', '#\tTab');
  const blank = ctx.unicode ? pick('', '', '  ', '\t', ...UNICODE_SPACES) : pick('', '', '  ', '\t', '\v');
  const line = fc.oneof(
    fc.oneof(comment, blank).map((text) => ({ text, directiveLike: false })),
    pick('# escape=`', '# syntax=x').map((text) => ({ text, directiveLike: true })),
  );
  const laidOut = instruction(ctx).chain((ins) => layout(ctx, ins)).map((text): Item => ({ kind: 'instruction', text }));
  const item: fc.Arbitrary<Item> = fc.oneof(
    { weight: 5, arbitrary: laidOut },
    { weight: 2, arbitrary: fc.tuple(line, eol(ctx)).map(([l, nl]): Item => ({ kind: 'line', text: l.text + nl, directiveLike: l.directiveLike })) },
  );
  // The last instruction may end in a continuation with nothing after it.
  const dangling = fc
    .tuple(pick('RUN', 'CMD', 'LABEL'), shellText(newContext({ ...ctx, unicode: false })))
    .chain(([kw, rest]) => layout(ctx, { text: `${kw} x ${rest}`, bodies: [] }, true));
  const tails = [{ weight: 8, arbitrary: fc.constant('') }, { weight: 1, arbitrary: dangling }];
  if (ctx.malformed) tails.push({ weight: 1, arbitrary: pick('RUN <<EOF\necho never ends\n', 'COPY <<A <<B /x\na\nA\nb\n', 'ENV A\n', '\r', '\\') });
  return fc
    .record({
      items: fc.array(item, { maxLength: maxInstructions + 4 }),
      first: ctx.malformed ? fc.option(laidOut, { nil: undefined }) : laidOut,
      tail: fc.oneof(...tails),
      dropFinalNewline: fc.boolean(),
    })
    .map(({ items, first, tail, dropFinalNewline }) => {
      // Directive-like comments only after an instruction, where they cannot be directives.
      let seenInstruction = false;
      const kept = items.filter((it) => {
        seenInstruction ||= it.kind === 'instruction';
        return it.kind === 'instruction' || !it.directiveLike || seenInstruction;
      });
      if (first && !kept.some((it) => it.kind === 'instruction')) kept.push(first);
      const text = kept.map((it) => it.text).join('') + tail;
      return dropFinalNewline && tail === '' ? text.replace(/\r*\n$/, '') : text;
    });
}

/**
 * Dockerfile text: directives, then instructions (every keyword, flags,
 * shell and JSON forms, heredocs, ONBUILD) among comments and blank lines,
 * laid out with continuations that have comments and blank lines inside,
 * CRLF endings, tabs and trailing spaces.
 *
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { dockerfileArbitrary } from 'layerkit/testing';
 * import { parseDockerfile } from 'layerkit';
 *
 * fc.assert(fc.property(dockerfileArbitrary(), (text) => {
 *   parseDockerfile(text, { strict: false }); // BuildKit's parser accepts every one of these
 * }));
 * ```
 */
export function dockerfileArbitrary(options: DockerfileArbitraryOptions = {}): fc.Arbitrary<string> {
  const base = { malformed: options.malformed ?? false, unicode: options.unicode ?? true, heredocs: options.heredocs ?? true };
  const max = options.maxInstructions ?? 8;
  const bodies = { '\\': body(newContext({ ...base, esc: '\\' }), max), '`': body(newContext({ ...base, esc: '`' }), max) };
  return header(newContext({ ...base, esc: '\\' })).chain((h) => bodies[h.esc].map((b) => h.text + b));
}

/**
 * Text that is Dockerfile-shaped only in places: keywords, continuations,
 * heredoc markers, directives, JSON brackets (nested thousands deep) and
 * whole generated Dockerfiles, mixed with arbitrary Unicode (lone surrogates
 * included). For "never crashes" properties of a parser.
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
    '$', '${', '}', '${A:-', '\ufeff', '\u0085', '\u00a0', '\u2028', '\u0000', 'İ', 'ſ', 'Ņ', '\u1140',
  );
  const surrogates = fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)), maxLength: 3 });
  // Deep nesting, which BuildKit reads recursively: JSON arrays (Go's decoder gives up past 10000
  // levels) and `${A:-…}` words on a heredoc line.
  const deep = fc.oneof(
    fc.integer({ min: 1, max: 12_000 }).map((n) => `RUN ${'['.repeat(n)}${']'.repeat(n)}\n`),
    fc.integer({ min: 1, max: 64 }).map((n) => `RUN ${'${A:-'.repeat(n)}x${'}'.repeat(n)} <<EOF\nEOF\n`),
  );
  const piece = fc.oneof(
    { weight: 12, arbitrary: fragments },
    { weight: 4, arbitrary: fc.string({ maxLength: 8 }) },
    { weight: 4, arbitrary: unicodeString(0, 8) },
    { weight: 2, arbitrary: surrogates },
    { weight: 4, arbitrary: dockerfileArbitrary({ malformed: true, maxInstructions: 3 }) },
    { weight: 1, arbitrary: deep },
  );
  return fc.array(piece, { maxLength: 30 }).map((ps) => ps.join(''));
}
