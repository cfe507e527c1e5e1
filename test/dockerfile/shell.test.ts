import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LayerkitError } from '../../src/errors.js';
import { envFromList, ShellExpansionError, ShellLex } from '../../src/dockerfile/shell/index.js';

const fixtures = fileURLToPath(new URL('../fixtures/buildkit/shell/', import.meta.url));

function tryWord(lex: ShellLex, word: string, env: readonly string[]): string {
  try {
    return lex.processWord(word, env);
  } catch (err) {
    if (err instanceof ShellExpansionError) return 'error';
    throw err;
  }
}

describe('BuildKit conformance: shell/envVarTest', () => {
  // Format in test/fixtures/buildkit/README.md.
  const env = ['PWD=/home', 'SHELL=bash', 'KOREAN=한국어', 'NULL='];
  const rows = readFileSync(fixtures + 'envVarTest', 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => line.split('|').map((field) => field.trim()) as [string, string, string])
    .filter(([platform]) => platform === 'A' || platform === 'U');

  it('every Linux row expands to BuildKit’s answer', () => {
    const lex = new ShellLex();
    const failures = rows
      .map(([, source, expected]) => ({ source, expected, actual: tryWord(lex, source, env) }))
      .filter((row) => row.actual !== row.expected);
    expect(failures).toEqual([]);
    // Guards the row reader itself: 228 of the file's rows are for all platforms or Unix.
    expect(rows.length).toBe(228);
  });
});

describe('BuildKit conformance: shell/wordsTest', () => {
  const lines = readFileSync(fixtures + 'wordsTest', 'utf8').split('\n');

  it('every row splits into BuildKit’s words', () => {
    const lex = new ShellLex();
    const env: string[] = [];
    const failures: unknown[] = [];
    let checked = 0;
    for (const line of lines) {
      if (line.trim() === '' || line.startsWith('#')) continue;
      if (line.startsWith('ENV ')) {
        env.push(line.slice(4).trimStart());
        continue;
      }
      const bar = line.indexOf('|');
      const input = line.slice(0, bar).trim();
      const expected = line.slice(bar + 1).trimStart();
      let actual: string;
      try {
        actual = lex.processWords(input, [...env]).join(',');
      } catch (err) {
        if (!(err instanceof ShellExpansionError)) throw err;
        actual = 'error';
      }
      checked++;
      if (actual !== expected) failures.push({ input, expected, actual });
    }
    expect(failures).toEqual([]);
    expect(checked).toBe(24);
  });
});

/**
 * Answers recorded from BuildKit's own lexer (bkoracle, moby/buildkit
 * 73ed6825c4b7, `shell.NewLex('\\')`), for behaviour the fixture files do
 * not cover: patterns, replacement templates, word splitting quirks.
 */
const ORACLE_ENV = ['V=banana', 'F=archive.tar.gz', 'P=/usr/local/bin', 'E=', 'S=a b  c', 'N=line1\nline2', 'G=a*b?c'];
const ORACLE_CASES: ['word' | 'words', string, string | string[] | { error: string }][] = [
  ['word', '${F%.*}', 'archive.tar'],
  ['word', '${F%%.*}', 'archive'],
  ['word', '${F#*.}', 'tar.gz'],
  ['word', '${F##*.}', 'gz'],
  ['word', '${P#/usr/}', 'local/bin'],
  ['word', '${P%/*}', '/usr/local'],
  ['word', '${V/an/AN}', 'bANana'],
  ['word', '${V//an/AN}', 'bANANa'],
  ['word', '${V//a}', { error: 'failed to process "${V//a}": syntax error: missing \'/\' in ${}' }],
  ['word', '${V//a/}', 'bnn'],
  ['word', '${V///-}', '-b-a-n-a-n-a-'],
  ['word', '${V//*/x}', 'x'],
  ['word', '${V//a/[\\$0]}', 'b[\\a]n[\\a]n[\\a]'],
  ['word', '${V/a/[\\$0]}', 'b[\\$0]nana'],
  ['word', '${G#a\\*}', 'b?c'],
  ['word', '${G%\\?c}', 'a*b'],
  ['word', '${G#a\\b}', { error: 'failed to process "${G#a\\\\b}": invalid pattern (a\\b) in substitution: invalid escape \'\\b\'' }],
  ['word', '${G%\\x}', { error: 'failed to process "${G%\\\\x}": invalid pattern (\\x) in substitution: invalid escape \'\\x\'' }],
  ['word', '${N%%\n*}', 'line1'],
  ['word', '${N#*}', 'line1\nline2'],
  ['word', '${N##*}', '\nline2'],
  ['word', '${N//?/.}', '.....\n.....'],
  ['word', '${V:?}', 'banana'],
  ['word', '${E:?is empty}', { error: 'failed to process "${E:?is empty}": E: is empty' }],
  ['word', '${E?}', ''],
  ['word', '${U?must be set}', { error: 'failed to process "${U?must be set}": U: must be set' }],
  ['word', '${V:#a}', { error: 'failed to process "${V:#a}": unsupported modifier (:#) in substitution' }],
  ['word', '${V/a}', { error: 'failed to process "${V/a}": syntax error: missing \'/\' in ${}' }],
  ['word', '${V#a', { error: 'failed to process "${V#a": syntax error: missing \'}\'' }],
  ['word', '${V:-${E:-${U:-deep}}}', 'banana'],
  ['word', '${V#$E}', 'banana'],
  ['word', '\'$V\'"$V"\\$V$V', '$Vbanana$Vbanana'],
  ['word', '"a\\b\\$c\\"d"', 'a\\b$c"d'],
  ['word', '$@$1$$x', 'x'],
  ['word', '${V:}}', { error: 'failed to process "${V:}}": unsupported modifier (:}) in substitution' }],
  ['word', '${V:x}', { error: 'failed to process "${V:x}": unsupported modifier (:x) in substitution' }],
  ['word', '${#V}', { error: 'failed to process "${#V}": unsupported modifier (V) in substitution' }],
  ['words', '$S', ['a', 'b', 'c']],
  ['words', '"$S"', ['a b  c']],
  ['words', 'x${S}y', ['xa', 'b', 'cy']],
  ['words', 'abc${U:-def}', ['def']],
  ['words', 'abc"${U:-d e}"f g', ['d ef', 'g']],
  ['words', 'a "" b', ['a', 'b']],
  ['words', 'a\\ b c', ['a b', 'c']],
  ['words', 'cat <<EOF >out', ['cat', '<<EOF', '>out']],
  ['words', 'cat << EOF', ['cat', '<< EOF']],
  ['words', '${U:-a b} c', ['a', 'b', 'c']],
];

describe('answers recorded from BuildKit’s lexer', () => {
  const lex = new ShellLex();
  it.each(ORACLE_CASES)('%s %j', (op, text, expected) => {
    const run = () => (op === 'word' ? lex.processWord(text, ORACLE_ENV) : lex.processWords(text, ORACLE_ENV));
    if (typeof expected === 'object' && !Array.isArray(expected)) {
      expect(run).toThrowError(expected.error);
      expect(run).toThrow(ShellExpansionError);
    } else {
      expect(run()).toEqual(expected);
    }
  });
});

describe('ShellExpansionError', () => {
  const lex = new ShellLex();
  function failure(word: string, env: Record<string, string> = {}): ShellExpansionError {
    try {
      lex.processWord(word, env);
    } catch (err) {
      expect(err).toBeInstanceOf(ShellExpansionError);
      return err as ShellExpansionError;
    }
    throw new Error(`expected ${word} to fail`);
  }

  it('is a LayerkitError with a code, a reason and the offset of the failing construct', () => {
    const err = failure('ab${}cd');
    expect(err).toBeInstanceOf(LayerkitError);
    expect(err.code).toBe('SHELL_EXPANSION');
    expect(err.message).toBe('failed to process "ab${}cd": syntax error: bad substitution');
    expect(err.data).toMatchObject({ word: 'ab${}cd', offset: 2, reason: 'bad-substitution' });
    expect(err.toJSON().data.detail).toBe('syntax error: bad substitution');
  });

  it('points at the opening quote of an unterminated string', () => {
    expect(failure('abc "def').data).toMatchObject({ offset: 4, reason: 'unterminated-double-quote' });
    expect(failure("x'y").data).toMatchObject({ offset: 1, reason: 'unterminated-single-quote' });
  });

  it('names the variable of a failed ${VAR?} and counts offsets in UTF-16 units', () => {
    const err = failure('😀${NAME:?is required}', { NAME: '' });
    expect(err.data).toMatchObject({ offset: 2, reason: 'empty-variable', variable: 'NAME' });
    expect(err.message).toBe('failed to process "😀${NAME:?is required}": NAME: is required');
    expect(failure('${NAME?}').data).toMatchObject({ reason: 'unset-variable', variable: 'NAME' });
  });

  it('reports a missing brace at the $ that opened it, even from a nested expansion', () => {
    expect(failure('x ${A:-${B').data).toMatchObject({ offset: 2, reason: 'missing-brace' });
    expect(failure('${A/x').data).toMatchObject({ offset: 0, reason: 'missing-slash' });
    expect(failure('${A#\\x}').data).toMatchObject({ reason: 'invalid-pattern', variable: 'A' });
    expect(failure('${A:=x}').data).toMatchObject({ reason: 'unsupported-modifier', variable: 'A' });
  });

  it('quotes the word in the message as Go’s %q does', () => {
    expect(failure('\t"\u0001').message).toBe(
      'failed to process "\\t\\"\\x01": unexpected end of statement while looking for matching double-quote',
    );
  });

  it('refuses a pattern too large to match in bounded memory instead of exhausting it', () => {
    const value = 'a'.repeat(200_000);
    const err = failure('${V#' + '?'.repeat(200) + '}', { V: value });
    expect(err.data.reason).toBe('pattern-too-complex');
  });
});

describe('ShellLex', () => {
  it('accepts a Map, a record or a K=V list as the environment', () => {
    const lex = new ShellLex();
    expect(lex.processWord('$A-$B', new Map([['A', '1'], ['B', '2']]))).toBe('1-2');
    expect(lex.processWord('$A-$B', { A: '1', B: '2' })).toBe('1-2');
    expect(lex.processWord('$A-$B', ['A=0', 'A=1', 'B=x=2'])).toBe('1-x=2');
    // A list entry without "=" sets the name to "".
    expect(lex.processWord('${A-unset}', ['A'])).toBe('');
    // Only own properties of a record count.
    expect(lex.processWord('${constructor:-none}${toString:-none}', {})).toBe('nonenone');
    expect([...envFromList(['X=1', 'Y', 'X=2']).entries()]).toEqual([
      ['X', '2'],
      ['Y', ''],
    ]);
  });

  it('reports matched and unmatched variables, including those inside modifiers', () => {
    const { word, matched, unmatched } = new ShellLex().processWordWithMatches('$A${B:-$C}${D+x}$1', {
      A: 'a',
      D: '',
    });
    expect(word).toBe('ax');
    expect([...matched].sort()).toEqual(['A', 'D']);
    expect([...unmatched].sort()).toEqual(['1', 'B', 'C']);
  });

  it('uses ` as the escape character when told to, leaving \\ literal', () => {
    const lex = new ShellLex({ escapeToken: '`' });
    expect(lex.processWord('C:\\path\\$X', { X: 'x' })).toBe('C:\\path\\x');
    expect(lex.processWord('`$X and "``" `"', { X: 'x' })).toBe('$X and ` "');
    expect(lex.processWords('a` b c', {})).toEqual(['a b', 'c']);
  });

  it('keeps quotes, escapes and unset references when asked (heredoc and display modes)', () => {
    expect(new ShellLex({ rawQuotes: true }).processWord('"a" \'b\'', {})).toBe('"a" \'b\'');
    expect(new ShellLex({ rawEscapes: true }).processWord('a\\ b', {})).toBe('a\\ b');
    expect(new ShellLex({ skipProcessQuotes: true }).processWord('"$X"', { X: '1' })).toBe('"1"');
    const keep = new ShellLex({ skipUnsetEnv: true });
    expect(keep.processWord('$A ${B} ${C:-x} ${D/a/b} $E', { E: 'e' })).toBe('$A ${B} ${C:-x} ${D/a/b} e');
  });

  it('is reusable: one call’s state never leaks into the next', () => {
    const lex = new ShellLex();
    expect(() => lex.processWord('"open', {})).toThrow(ShellExpansionError);
    expect(lex.processWords('a b', {})).toEqual(['a', 'b']);
    expect(lex.processWordWithMatches('$X', {}).unmatched.has('X')).toBe(true);
    expect(lex.processWordWithMatches('y', {}).unmatched.size).toBe(0);
  });
});
