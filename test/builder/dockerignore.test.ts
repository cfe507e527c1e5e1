/**
 * `.dockerignore` parsing and matching, checked against Docker's documented
 * behaviour and against moby/patternmatcher's and BuildKit's own test cases.
 *
 * Sources of the expected values:
 * - [pm] moby/patternmatcher@5a6d842 `patternmatcher_test.go` (TestMatches,
 *   TestMatch, TestCompile, the "[Local-Only]/" regression) and
 *   `ignorefile/ignorefile_test.go` (TestReadAll);
 * - [docs] Docker documentation, "Build context › .dockerignore files"
 *   (its temp, `**`, README and Dockerfile examples);
 * - [bk] moby/buildkit@73ed682 `frontend/dockerfile/dockerfile_dockerignore_test.go`
 *   (testDockerignore, testDockerignoreInvalid, testDockerignoreOverride);
 * - [fsutil] tonistiigi/fsutil@6d9dc2e `filter.go` (directories matched by a
 *   pattern are only present through re-included descendants).
 */
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ContextError, openContext, parseDockerignore, PatternMatcher } from '../../src/context/index.js';
import { compileGoRegexp } from '../../src/context/go-regexp.js';

/** Property runs; LAYERKIT_PROPERTY_RUNS raises them for longer runs. */
const runs = (n: number) => ({ numRuns: Number(process.env.LAYERKIT_PROPERTY_RUNS ?? 0) || n });

type Spec = Record<string, string | { symlink: string } | null>;
const made: string[] = [];

/** A context directory from a spec: string = file content, null = empty dir, {symlink} = link. */
async function fixture(spec: Spec): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'lk-ignore-'));
  made.push(root);
  for (const [path, value] of Object.entries(spec)) {
    const host = join(root, path);
    await mkdir(value === null ? host : dirname(host), { recursive: true });
    if (typeof value === 'string') await writeFile(host, value);
    else if (value !== null) await symlink(value.symlink, host);
  }
  return root;
}

afterAll(async () => {
  await Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function visible(root: string, options: Parameters<typeof openContext>[1] = {}): Promise<string[]> {
  const ctx = await openContext(root, { xattrs: false, ...options });
  const paths: string[] = [];
  for await (const entry of ctx.walk()) if (entry.path !== '/') paths.push(entry.path);
  return paths;
}

describe('parseDockerignore', () => {
  it('reads the lines of patternmatcher TestReadAll [pm]', () => {
    const content = 'test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! ';
    expect(parseDockerignore(content).patterns).toEqual([
      'test1',
      'test2',
      'a/file/here',
      'lastfile',
      '!inverted/abs/path',
      '!',
      '!',
    ]);
  });

  it('cleans, trims, keeps only column-1 comments, accepts CRLF and a BOM', () => {
    const content = '\uFEFFfirst\r\n  # not a comment\r\n#comment\r\n./a//b/\r\n a/../c \r\n../up\r\n/\r\n!  ./x/\r\n.\r\n';
    const { patterns, origins } = parseDockerignore(content);
    expect(patterns).toEqual(['first', '# not a comment', 'a/b', 'c', '../up', '/', '!x', '.']);
    expect(origins.map((o) => o.line)).toEqual([1, 2, 4, 5, 6, 7, 8, 9]);
  });

  it('keeps a BOM that is not at the start of the file, as Go does', () => {
    expect(parseDockerignore('a\n\uFEFFb\n').patterns).toEqual(['a', '\uFEFFb']);
  });

  it('rejects a line of 64 KiB or more (bufio.Scanner limit) with its line number', () => {
    const long = 'x'.repeat(64 * 1024);
    expect(() => parseDockerignore(`ok\n${long}\n`)).toThrow(ContextError);
    try {
      parseDockerignore(`ok\n${long}\n`);
    } catch (err) {
      expect((err as ContextError).data.line).toBe(2);
    }
    expect(parseDockerignore(`${'y'.repeat(64 * 1024 - 1)}\n`).patterns).toHaveLength(1);
  });
});

// [pm] TestMatches: pattern, path, excluded? (checked with MatchesOrParentMatches semantics)
const SINGLE: [string, string, boolean][] = [
  ['**', 'file', true], ['**', 'file/', true], ['**/', 'file', true], ['**/', 'file/', true],
  ['**', '/', true], ['**/', '/', true], ['**', 'dir/file', true], ['**/', 'dir/file', true],
  ['**', 'dir/file/', true], ['**/', 'dir/file/', true], ['**/**', 'dir/file', true],
  ['**/**', 'dir/file/', true], ['dir/**', 'dir/file', true], ['dir/**', 'dir/file/', true],
  ['dir/**', 'dir/dir2/file', true], ['dir/**', 'dir/dir2/file/', true], ['**/dir', 'dir', true],
  ['**/dir', 'dir/file', true], ['**/dir2/*', 'dir/dir2/file', true], ['**/dir2/*', 'dir/dir2/file/', true],
  ['**/dir2/**', 'dir/dir2/dir3/file', true], ['**/dir2/**', 'dir/dir2/dir3/file/', true],
  ['**file', 'file', true], ['**file', 'dir/file', true], ['**/file', 'dir/file', true],
  ['**file', 'dir/dir/file', true], ['**/file', 'dir/dir/file', true], ['**/file*', 'dir/dir/file', true],
  ['**/file*', 'dir/dir/file.txt', true], ['**/file*txt', 'dir/dir/file.txt', true],
  ['**/file*.txt', 'dir/dir/file.txt', true], ['**/file*.txt*', 'dir/dir/file.txt', true],
  ['**/**/*.txt', 'dir/dir/file.txt', true], ['**/**/*.txt2', 'dir/dir/file.txt', false],
  ['**/*.txt', 'file.txt', true], ['**/**/*.txt', 'file.txt', true], ['a**/*.txt', 'a/file.txt', true],
  ['a**/*.txt', 'a/dir/file.txt', true], ['a**/*.txt', 'a/dir/dir/file.txt', true],
  ['a/*.txt', 'a/dir/file.txt', false], ['a/*.txt', 'a/file.txt', true], ['a/*.txt**', 'a/file.txt', true],
  ['a[b-d]e', 'ae', false], ['a[b-d]e', 'ace', true], ['a[b-d]e', 'aae', false], ['a[^b-d]e', 'aze', true],
  ['.*', '.foo', true], ['.*', 'foo', false], ['abc.def', 'abcdef', false], ['abc.def', 'abc.def', true],
  ['abc.def', 'abcZdef', false], ['abc?def', 'abcZdef', true], ['abc?def', 'abcdef', false],
  ['a\\\\', 'a\\', true], ['**/foo/bar', 'foo/bar', true], ['**/foo/bar', 'dir/foo/bar', true],
  ['**/foo/bar', 'dir/dir2/foo/bar', true], ['abc/**', 'abc', false], ['abc/**', 'abc/def', true],
  ['abc/**', 'abc/def/ghi', true], ['**/.foo', '.foo', true], ['**/.foo', 'bar.foo', false],
  ['a(b)c/def', 'a(b)c/def', true], ['a(b)c/def', 'a(b)c/xyz', false], ['a.|)$(}+{bc', 'a.|)$(}+{bc', true],
  ['dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', true],
  ['dist/*.whl', 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', true],
  ['a\\*b', 'a*b', true],
];

// [pm] TestMatches multiPatternTests
const MULTI: [string[], string, boolean][] = [
  [['**', '!util/docker/web'], 'util/docker/web/foo', false],
  [['**', '!util/docker/web', 'util/docker/web/foo'], 'util/docker/web/foo', true],
  [['**', '!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl'], 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', false],
  [['**', '!dist/*.whl'], 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', false],
  // [pm] TestExclusionPatternMatchesPatternBefore / After, TestPatternMatchesFolder*Exclusions
  [['!fileutils.go', '*.go'], 'fileutils.go', true],
  [['*.go', '!fileutils.go'], 'fileutils.go', false],
  [['docs', '!docs/README.md'], 'docs/README.md', false],
  [['docs/', '!docs/README.md'], 'docs/README.md', false],
  [['docs/*', '!docs/README.md'], 'docs/README.md', false],
];

/** Matches `path` by handing each parent's MatchInfo down, as a tree walk does. */
function matchByWalk(matcher: PatternMatcher, path: string): boolean {
  const parts = path.split('/').filter((part, i, all) => part !== '' || i < all.length - 1);
  let info = matcher.matchesWithParentInfo(parts[0]!, []).info;
  for (let i = 1; i < parts.length - 1; i++) info = matcher.matchesWithParentInfo(parts.slice(0, i + 1).join('/'), info).info;
  return parts.length === 1 ? matcher.matches(parts[0]!) : matcher.matchesWithParentInfo(path, info).matched;
}

describe('PatternMatcher (moby/patternmatcher semantics)', () => {
  it.each(SINGLE)('%j on %j → %s [pm TestMatches]', (pattern, path, expected) => {
    const matcher = new PatternMatcher([pattern]);
    expect(matcher.matches(path)).toBe(expected);
  });

  it.each(MULTI)('%j on %j → %s [pm]', (patterns, path, expected) => {
    const matcher = new PatternMatcher(patterns);
    expect(matcher.matches(path)).toBe(expected);
    expect(matchByWalk(matcher, path)).toBe(expected);
  });

  it('gives the same answer with parent results handed down as from scratch [pm MatchesUsingParentResults]', () => {
    for (const [pattern, path, expected] of SINGLE) {
      if (path.startsWith('/') || path.endsWith('/')) continue;
      expect(matchByWalk(new PatternMatcher([pattern]), path), `${pattern} ${path}`).toBe(expected);
    }
  });

  // [pm] TestMatch (filepath.Match cases run through the matcher)
  const GO_CASES: [string, string, boolean | 'bad'][] = [
    ['abc', 'abc', true], ['*', 'abc', true], ['*c', 'abc', true], ['a*', 'a', true], ['a*', 'abc', true],
    ['a*', 'ab/c', true], ['a*/b', 'abc/b', true], ['a*/b', 'a/c/b', false], ['a*b*c*d*e*/f', 'axbxcxdxe/f', true],
    ['a*b*c*d*e*/f', 'axbxcxdxexxx/f', true], ['a*b*c*d*e*/f', 'axbxcxdxe/xxx/f', false],
    ['a*b*c*d*e*/f', 'axbxcxdxexxx/fff', false], ['a*b?c*x', 'abxbbxdbxebxczzx', true],
    ['a*b?c*x', 'abxbbxdbxebxczzy', false], ['ab[c]', 'abc', true], ['ab[b-d]', 'abc', true],
    ['ab[e-g]', 'abc', false], ['ab[^c]', 'abc', false], ['ab[^b-d]', 'abc', false], ['ab[^e-g]', 'abc', true],
    ['a\\*b', 'a*b', true], ['a\\*b', 'ab', false], ['a?b', 'a☺b', true], ['a[^a]b', 'a☺b', true],
    ['a???b', 'a☺b', false], ['a[^a][^a][^a]b', 'a☺b', false], ['[a-ζ]*', 'α', true], ['*[a-ζ]', 'A', false],
    ['a?b', 'a/b', false], ['a*b', 'a/b', false], ['[\\]a]', ']', true], ['[\\-]', '-', true], ['[x\\-]', 'x', true],
    ['[x\\-]', '-', true], ['[x\\-]', 'z', false], ['[\\-x]', 'x', true], ['[\\-x]', '-', true], ['[\\-x]', 'a', false],
    ['[]a]', ']', 'bad'], ['[-]', '-', 'bad'], ['[x-]', 'x', 'bad'], ['[x-]', '-', 'bad'], ['[x-]', 'z', 'bad'],
    ['[-x]', 'x', 'bad'], ['[-x]', '-', 'bad'], ['[-x]', 'a', 'bad'], ['\\', 'a', 'bad'], ['[a-b-c]', 'a', 'bad'],
    ['[', 'a', 'bad'], ['[^', 'a', 'bad'], ['[^bc', 'a', 'bad'], ['a[', 'a', 'bad'], ['a[', 'ab', 'bad'],
    ['*x', 'xxx', true],
  ];
  it.each(GO_CASES)('%j on %j → %s [pm TestMatch]', (pattern, path, expected) => {
    if (expected === 'bad') {
      expect(() => new PatternMatcher([pattern])).toThrow(expect.objectContaining({ code: 'CONTEXT_BAD_PATTERN' }));
    } else {
      expect(new PatternMatcher([pattern]).matches(path)).toBe(expected);
    }
  });

  // [pm] TestCompile (slash separator): how each pattern is compared
  const COMPILE: [string, string, string][] = [
    ['*', 'regexp', '^[^/]*$'], ['file*', 'regexp', '^file[^/]*$'], ['*file', 'regexp', '^[^/]*file$'],
    ['a*/b', 'regexp', '^a[^/]*/b$'], ['**', 'suffix', ''], ['**/**', 'regexp', '^(.*/)?.*$'], ['dir/**', 'prefix', ''],
    ['**/dir', 'suffix', ''], ['**/dir2/*', 'regexp', '^(.*/)?dir2/[^/]*$'], ['**/dir2/**', 'regexp', '^(.*/)?dir2/.*$'],
    ['**file', 'suffix', ''], ['**/file*txt', 'regexp', '^(.*/)?file[^/]*txt$'],
    ['**/**/*.txt', 'regexp', '^(.*/)?(.*/)?[^/]*\\.txt$'], ['a[b-d]e', 'regexp', '^a[b-d]e$'], ['.*', 'regexp', '^\\.[^/]*$'],
    ['abc.def', 'exact', ''], ['abc?def', 'regexp', '^abc[^/]def$'], ['**/foo/bar', 'suffix', ''], ['a(b)c/def', 'exact', ''],
    ['a.|)$(}+{bc', 'exact', ''], ['dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', 'exact', ''],
  ];
  it.each(COMPILE)('compiles %j as %s %j [pm TestCompile]', (pattern, kind, goRegexp) => {
    const [compiled] = new PatternMatcher([pattern]).patterns;
    expect(compiled!.compiled()).toEqual({ kind, goRegexp });
  });

  it('reports a pattern that passes filepath.Match but not regexp.Compile on every use [pm "[Local-Only]/"]', () => {
    const matcher = new PatternMatcher(['[Local-Only]/'], [{ file: '.dockerignore', line: 3 }]);
    for (let i = 0; i < 2; i++) {
      expect(() => matcher.matches('x')).toThrow(
        expect.objectContaining({ code: 'CONTEXT_BAD_PATTERN', data: expect.objectContaining({ line: 3 }) }),
      );
    }
  });

  it('rejects "!" alone [pm TestSingleExclamationError]', () => {
    expect(() => new PatternMatcher(['docs', '!'])).toThrow(expect.objectContaining({ code: 'CONTEXT_BAD_PATTERN' }));
  });

  it('never matches with no patterns, and "." matches nothing [pm TestMatchesWithNoPatterns, docs]', () => {
    expect(new PatternMatcher([]).matches('any/path/there')).toBe(false);
    expect(new PatternMatcher(['.']).matches('a')).toBe(false);
  });

  it('a pattern matching a directory matches everything below it (property)', () => {
    const name = fc.stringMatching(/^[a-z]{1,4}$/);
    fc.assert(
      fc.property(fc.array(name, { minLength: 1, maxLength: 3 }), fc.array(name, { minLength: 1, maxLength: 3 }), (dir, rest) => {
        const matcher = new PatternMatcher([dir.join('/')]);
        const below = [...dir, ...rest].join('/');
        expect(matcher.matches(below)).toBe(true);
        expect(matchByWalk(matcher, below)).toBe(true);
      }),
      runs(100),
    );
  });

  it('the last pattern covering a path decides, parents included (property over literal paths) [pm MatchesOrParentMatches]', () => {
    const name = fc.constantFrom('a', 'b', 'c');
    const pathArb = fc.array(name, { minLength: 1, maxLength: 3 }).map((p) => p.join('/'));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), pathArb), { maxLength: 6 }), pathArb, (patterns, path) => {
        const matcher = new PatternMatcher(patterns.map(([neg, p]) => (neg ? '!' : '') + p));
        const covers = (p: string) => path === p || path.startsWith(p + '/');
        let expected = false;
        for (const [neg, p] of patterns) if (covers(p)) expected = !neg;
        expect(matcher.matches(path)).toBe(expected);
      }),
      runs(300),
    );
  });

  it('while walking, an exception skipped at a parent does not apply below it [pm MatchesUsingParentResults]', () => {
    // At "b" nothing is excluded yet, so "!b" is not consulted and its result is not inherited.
    const matcher = new PatternMatcher(['b/b', '!b']);
    expect(matcher.matches('b/b')).toBe(false);
    expect(matchByWalk(matcher, 'b/b')).toBe(true);
  });
});

describe('Go regexp translation', () => {
  const cases: [string, string, boolean | 'bad'][] = [
    ['^a.b$', 'a\nb', false], // Go's dot never matches a newline
    ['^a.b$', 'a\rb', true],
    ['^[]a]$', ']', true], // ']' first in a class is literal in Go
    ['^[[:alpha:]]+$', 'abcXYZ', true],
    ['^[[:^digit:]]$', '5', false],
    ['^\\s$', '\u00a0', false], // Go's \s is ASCII only
    ['^[^\\S]$', '\u00a0', false],
    ['^\\pL\\p{Greek}$', 'aα', true],
    ['^a\\Q.*\\Eb$', 'a.*b', true],
    ['^a\\Qb$', 'ab$', true], // \Q without \E quotes to the end, anchor included
    ['^\\x41\\x{263a}\\101$', 'A☺A', true],
    ['^[z-a]$', 'a', 'bad'],
    ['^\\q$', 'q', 'bad'],
    ['^[[:foo:]]$', 'a', 'bad'],
    ['^a\\bc$', 'abc', false], // a word boundary between two letters never holds
    ['^[[^/]*]$', '^]', true], // a class holding '[', '^' and '/', repeated, then ']'
  ];
  it.each(cases)('%j on %j → %s', (source, input, expected) => {
    if (expected === 'bad') expect(() => compileGoRegexp(source)).toThrow();
    else expect(compileGoRegexp(source).test(input)).toBe(expected);
  });
});

interface ViewCase {
  name: string;
  files: Spec;
  ignore: string;
  expected: string[];
}

const VIEW_CASES: ViewCase[] = [
  {
    name: '[bk testDockerignore] ba*, Dockerfile, !bay, .dockerignore',
    files: { Dockerfile: 'FROM scratch\nCOPY . .\n', foo: 'foo', bar: 'bar', baz: 'baz', bay: 'bay' },
    ignore: '\nba*\nDockerfile\n!bay\n.dockerignore\n',
    expected: ['/bay', '/foo'],
  },
  {
    name: '[docs] */temp*, */*/temp*, temp?',
    files: {
      'somedir/temporary.txt': '', 'somedir/temp/x': '', 'somedir/keep': '', 'somedir/subdir/temporary.txt': '',
      tempa: '', tempb: '', temp: '', tempab: '', 'keep.txt': '',
    },
    ignore: '# comment\n*/temp*\n*/*/temp*\ntemp?\n',
    expected: ['/.dockerignore', '/keep.txt', '/somedir', '/somedir/keep', '/somedir/subdir', '/temp', '/tempab'],
  },
  {
    name: '[docs] **/*.go excludes .go files at every level, the root included',
    files: { 'main.go': '', 'a/b/c.go': '', 'a/readme': '' },
    ignore: '**/*.go\n',
    expected: ['/.dockerignore', '/a', '/a/b', '/a/readme'],
  },
  {
    name: '[docs] *.md, !README.md (and *.md is not recursive)',
    files: { 'README.md': '', 'CHANGES.md': '', 'docs/x.md': '' },
    ignore: '*.md\n!README.md\n',
    expected: ['/.dockerignore', '/README.md', '/docs', '/docs/x.md'],
  },
  {
    name: '[docs] *.md, !README*.md, README-secret.md',
    files: { 'README.md': '', 'README-secret.md': '', 'other.md': '' },
    ignore: '*.md\n!README*.md\nREADME-secret.md\n',
    expected: ['/.dockerignore', '/README.md'],
  },
  {
    name: '[docs] *.md, README-secret.md, !README*.md',
    files: { 'README.md': '', 'README-secret.md': '', 'other.md': '' },
    ignore: '*.md\nREADME-secret.md\n!README*.md\n',
    expected: ['/.dockerignore', '/README-secret.md', '/README.md'],
  },
  {
    name: '[docs] * then exceptions lists what to include',
    files: { 'src/a.ts': '', 'package.json': '', 'test/x': '', README: '' },
    ignore: '*\n!src\n!package.json\n',
    expected: ['/package.json', '/src', '/src/a.ts'],
  },
  {
    name: '[pm, fsutil] an excluded directory holds only its re-included file',
    files: { 'docs/README.md': '', 'docs/other.md': '', 'docs/sub/x': '' },
    ignore: 'docs\n!docs/README.md\n',
    expected: ['/.dockerignore', '/docs', '/docs/README.md'],
  },
  {
    name: '[pm] docs/* with an exception',
    files: { 'docs/README.md': '', 'docs/other.md': '' },
    ignore: 'docs/*\n!docs/README.md\n',
    expected: ['/.dockerignore', '/docs', '/docs/README.md'],
  },
  {
    name: '[fsutil] a wildcard exception makes excluded directories searched',
    files: { 'node_modules/a/package.json': '', 'node_modules/a/index.js': '', 'node_modules/package.json': '', 'node_modules/b/x': '' },
    ignore: 'node_modules\n!node_modules/**/package.json\n',
    expected: ['/.dockerignore', '/node_modules', '/node_modules/a', '/node_modules/a/package.json', '/node_modules/package.json'],
  },
  {
    name: '[fsutil] an excluded directory without exceptions is gone whole',
    files: { 'build/x': '', 'build/sub/y': '', src: '' },
    ignore: 'build/\n',
    expected: ['/.dockerignore', '/src'],
  },
  {
    name: '[pm multi] **, !util/docker/web',
    files: { 'util/docker/web/foo': '', 'util/docker/other': '', 'util/x': '', top: '' },
    ignore: '**\n!util/docker/web\n',
    expected: ['/util', '/util/docker', '/util/docker/web', '/util/docker/web/foo'],
  },
  {
    name: '[pm multi] **, !util/docker/web, util/docker/web/foo: the re-included directory stays, empty',
    files: { 'util/docker/web/foo': '', 'util/x': '' },
    ignore: '**\n!util/docker/web\nutil/docker/web/foo\n',
    expected: ['/util', '/util/docker', '/util/docker/web'],
  },
  {
    name: '[fsutil] a plain exception deep inside an excluded directory',
    files: { 'a/b/c/d': '', 'a/b/x': '', 'a/y': '' },
    ignore: 'a\n!a/b/c\n',
    expected: ['/.dockerignore', '/a', '/a/b', '/a/b/c', '/a/b/c/d'],
  },
  {
    name: '[docs] leading / and ./, trailing /, whitespace; "# x" after a space is a pattern',
    files: { 'tmp/a': '', 'logs/b': '', '# not a comment': '', keep: '' },
    ignore: '  /tmp/  \n ./logs\n  # not a comment\n',
    expected: ['/.dockerignore', '/keep'],
  },
  {
    name: '[fsutil] the walk uses parent results: b/b then !b still excludes b/b',
    files: { 'b/b': '', 'b/c': '' },
    ignore: 'b/b\n!b\n',
    expected: ['/.dockerignore', '/b', '/b/c'],
  },
  {
    name: 'symlinks are entries: an excluded target does not hide the link',
    files: { 'secret.env': 'x', 'link.env': { symlink: 'secret.env' }, 'dir/f': '', dirlink: { symlink: 'dir' } },
    ignore: 'secret.env\ndir\n',
    expected: ['/.dockerignore', '/dirlink', '/link.env'],
  },
];

describe('the context view after .dockerignore', () => {
  it.each(VIEW_CASES)('$name', async ({ files, ignore, expected }) => {
    const root = await fixture({ ...files, '.dockerignore': ignore });
    expect(await visible(root)).toEqual(expected);
  });

  it('still reads an excluded Dockerfile for the build, but COPY cannot see it [bk testDockerignore, docs]', async () => {
    const root = await fixture({ Dockerfile: 'FROM scratch\n', foo: 'x', '.dockerignore': 'Dockerfile\n.dockerignore\n' });
    const ctx = await openContext(root, { xattrs: false });
    expect(new TextDecoder().decode(await ctx.readDockerfile())).toBe('FROM scratch\n');
    expect(ctx.ignore.patterns).toEqual(['Dockerfile', '.dockerignore']);
    for (const source of ['Dockerfile', '.dockerignore']) {
      await expect(ctx.resolveSources([source])).rejects.toMatchObject({ code: 'CONTEXT_NOT_FOUND', data: { source } });
    }
    await expect(ctx.stat('/Dockerfile')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('fails on a "!" line with its position [bk testDockerignoreInvalid]', async () => {
    const root = await fixture({ Dockerfile: 'FROM scratch\n', '.dockerignore': 'a\n!\n' });
    await expect(openContext(root)).rejects.toMatchObject({
      code: 'CONTEXT_BAD_PATTERN',
      data: { file: '.dockerignore', line: 2 },
    });
  });

  it('uses <Dockerfile>.dockerignore instead of (not merged with) .dockerignore [bk testDockerignoreOverride]', async () => {
    const root = await fixture({
      Dockerfile: 'FROM busybox\n',
      'Dockerfile.dockerignore': '\nbar\n',
      Dockerfile2: 'FROM busybox\n',
      'Dockerfile2.dockerignore': '\nfoo\n',
      '.dockerignore': 'foo\nbar\n',
      foo: 'contents0',
      bar: 'contents0',
    });
    const first = await visible(root);
    expect(first).toContain('/foo');
    expect(first).not.toContain('/bar');
    const second = await visible(root, { dockerfilePath: 'Dockerfile2' });
    expect(second).toContain('/bar');
    expect(second).not.toContain('/foo');
    const ctx = await openContext(root, { dockerfilePath: 'Dockerfile2', xattrs: false });
    expect(ctx.ignore.file).toBe(join(root, 'Dockerfile2.dockerignore'));
  });

  it('finds <Dockerfile>.dockerignore next to a Dockerfile in a subdirectory or outside the context', async () => {
    const root = await fixture({
      'docker/app.Dockerfile': 'FROM scratch\n',
      'docker/app.Dockerfile.dockerignore': 'docker\nsecret\n',
      secret: 's',
      app: 'a',
    });
    expect(await visible(root, { dockerfilePath: 'docker/app.Dockerfile' })).toEqual(['/app']);
    const outside = await fixture({ 'web.Dockerfile': 'FROM scratch\n', 'web.Dockerfile.dockerignore': 'app\n' });
    const ctx = await openContext(root, { dockerfilePath: join(outside, 'web.Dockerfile'), xattrs: false });
    expect(ctx.dockerfile).toBe(join(outside, 'web.Dockerfile'));
    expect(ctx.ignore.patterns).toEqual(['app']);
  });

  it('falls back to a lowercase dockerfile, as BuildKit does', async () => {
    const root = await fixture({ dockerfile: 'FROM scratch\n' });
    const ctx = await openContext(root, { xattrs: false });
    expect(ctx.dockerfile).toBe(join(root, 'dockerfile'));
  });

  it('follows a .dockerignore symlink inside the context only', async () => {
    const root = await fixture({ 'conf/ignore': 'secret\n', '.dockerignore': { symlink: 'conf/ignore' }, secret: '' });
    expect(await visible(root)).toEqual(['/.dockerignore', '/conf', '/conf/ignore']);
    const escaping = await fixture({ '.dockerignore': { symlink: '/etc/hostname' }, a: '' });
    const ctx = await openContext(escaping, { xattrs: false });
    expect(ctx.ignore.file).toBeUndefined();
  });

  it('explicit excludes replace the ignore files', async () => {
    const root = await fixture({ a: '', b: '', '.dockerignore': 'a\n' });
    expect(await visible(root, { excludes: ['b', '.dockerignore'] })).toEqual(['/a']);
  });
});
