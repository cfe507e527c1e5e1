import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  csvFields,
  GoValueError,
  parseGoBool,
  parseGoDuration,
  parseGoInt32,
  parseGoUint32,
  ramInBytes,
} from '../../src/dockerfile/instructions/go-values.js';

const S = 1_000_000_000n;
const MIN = 60n * S;
const H = 60n * MIN;

describe('Go time.ParseDuration', () => {
  // Cases from Go's own time package tests.
  it.each([
    ['0', 0n], ['5s', 5n * S], ['30s', 30n * S], ['1478s', 1478n * S], ['-5s', -5n * S], ['+5s', 5n * S],
    ['-0', 0n], ['+0', 0n], ['5.0s', 5n * S], ['5.6s', 5600000000n], ['5.s', 5n * S], ['.5s', 500000000n],
    ['1.004s', 1004000000n], ['100.00100s', 100001000000n], ['10ns', 10n], ['11us', 11000n], ['12µs', 12000n],
    ['12μs', 12000n], ['13ms', 13000000n], ['15m', 15n * MIN], ['16h', 16n * H], ['3h30m', 3n * H + 30n * MIN],
    ['10.5s4m', 4n * MIN + 10500000000n], ['-2m3.4s', -(2n * MIN + 3400000000n)],
    ['1h2m3s4ms5us6ns', H + 2n * MIN + 3n * S + 4000000n + 5000n + 6n], ['39h9m14.425s', 39n * H + 9n * MIN + 14425000000n],
    ['52763797000ns', 52763797000n], ['0.3333333333333333333h', 20n * MIN], ['9007199254740993ns', 9007199254740993n],
    ['9223372036854775807ns', 9223372036854775807n], ['9223372036854775.807us', 9223372036854775807n],
    ['9223372036854ms775us807ns', 9223372036854775807n], ['-9223372036854775808ns', -9223372036854775808n],
    ['-9223372036854775.808us', -9223372036854775808n], ['0.100000000000000000000h', 6n * MIN],
    ['0.830103483285477580700h', 49n * MIN + 48n * S + 372539827n],
  ])('%s', (text, expected) => {
    expect(parseGoDuration(text)).toBe(expected);
  });

  it.each([
    ['', 'time: invalid duration ""'],
    ['3', 'time: missing unit in duration "3"'],
    ['-', 'time: invalid duration "-"'],
    ['s', 'time: invalid duration "s"'],
    ['.', 'time: invalid duration "."'],
    ['-.', 'time: invalid duration "-."'],
    ['.s', 'time: invalid duration ".s"'],
    ['+.s', 'time: invalid duration "+.s"'],
    ['1d', 'time: unknown unit "d" in duration "1d"'],
    ['\u0085\u0085', 'time: invalid duration "\\xc2\\x85\\xc2\\x85"'],
    ['9223372036854775810ns', 'time: invalid duration "9223372036854775810ns"'],
    ['9223372036854775808ns', 'time: invalid duration "9223372036854775808ns"'],
    ['-9223372036854775809ns', 'time: invalid duration "-9223372036854775809ns"'],
    ['9223372036854775.808us', 'time: invalid duration "9223372036854775.808us"'],
    ['9223372036854ms775us808ns', 'time: invalid duration "9223372036854ms775us808ns"'],
    ['1sconstructor', 'time: unknown unit "sconstructor" in duration "1sconstructor"'],
  ])('rejects %j', (text, message) => {
    expect(() => parseGoDuration(text)).toThrow(GoValueError);
    try {
      parseGoDuration(text);
    } catch (err) {
      expect((err as GoValueError).message).toBe(message);
    }
  });

  it('adds up its parts in any order', () => {
    const part = fc.tuple(fc.nat({ max: 10_000 }), fc.constantFrom(['h', H], ['m', MIN], ['s', S], ['ms', 1_000_000n], ['us', 1000n], ['ns', 1n]));
    fc.assert(
      fc.property(fc.array(part, { minLength: 1, maxLength: 6 }), fc.boolean(), (parts, negative) => {
        const text = (negative ? '-' : '') + parts.map(([n, [unit]]) => `${n}${unit}`).join('');
        const total = parts.reduce((sum, [n, [, ns]]) => sum + BigInt(n) * (ns as bigint), 0n);
        expect(parseGoDuration(text)).toBe(negative ? -total : total);
      }),
    );
  });
});

describe('go-units RAMInBytes', () => {
  it.each([
    ['32', 32], ['32b', 32], ['32B', 32], ['32k', 32 * 1024], ['32K', 32 * 1024], ['32kb', 32 * 1024], ['32Kb', 32 * 1024],
    ['32Mb', 32 * 1024 ** 2], ['32Gb', 32 * 1024 ** 3], ['32Tb', 32 * 1024 ** 4], ['32Pb', 32 * 1024 ** 5],
    ['32PB', 32 * 1024 ** 5], ['32P', 32 * 1024 ** 5], ['32.3', 32], ['32.3 mb', 33869004], ['32 kib', 32 * 1024],
    ['0.5k', 512], ['1e3', 1000], ['64m', 64 * 1024 ** 2],
  ])('%s', (text, expected) => {
    expect(ramInBytes(text)).toBe(expected);
  });

  it.each(['', 'hello', '-32', ' 32 ', '32m b', '32bm', '32kbb', '32kob', '32.3.3m', 'm'])('rejects %j', (text) => {
    expect(ramInBytes(text)).toBeUndefined();
  });
});

describe('strconv', () => {
  it('ParseBool accepts exactly Go’s spellings', () => {
    for (const t of ['1', 't', 'T', 'true', 'TRUE', 'True']) expect(parseGoBool(t)).toBe(true);
    for (const f of ['0', 'f', 'F', 'false', 'FALSE', 'False']) expect(parseGoBool(f)).toBe(false);
    for (const bad of ['', 'yes', 'tRUE', ' true', 'on']) expect(parseGoBool(bad)).toBeUndefined();
  });

  it('ParseUint(32) in base 8 and 10', () => {
    expect(parseGoUint32('0755', 8)).toBe(0o755);
    expect(parseGoUint32('755', 8)).toBe(0o755);
    expect(parseGoUint32('8', 8)).toBeUndefined();
    expect(parseGoUint32('0o755', 8)).toBeUndefined();
    expect(parseGoUint32('4294967295', 10)).toBe(4294967295);
    expect(parseGoUint32('4294967296', 10)).toBeUndefined();
    expect(parseGoUint32('+1', 10)).toBeUndefined();
    expect(parseGoUint32('', 10)).toBeUndefined();
    expect(parseGoUint32('1_000', 10)).toBeUndefined();
  });

  it('ParseInt(32) with Go’s messages, overflow reported before a later bad character', () => {
    expect(parseGoInt32('-2147483648')).toBe(-2147483648);
    expect(parseGoInt32('+2147483647')).toBe(2147483647);
    expect(parseGoInt32('007')).toBe(7);
    expect(() => parseGoInt32('2147483648')).toThrow(/value out of range/);
    expect(() => parseGoInt32('')).toThrow('strconv.ParseInt: parsing "": invalid syntax');
    expect(() => parseGoInt32('-')).toThrow(/invalid syntax/);
    expect(() => parseGoInt32('99999999999x')).toThrow('strconv.ParseInt: parsing "99999999999x": value out of range');
    expect(() => parseGoInt32('9x')).toThrow(/invalid syntax/);
  });

  it('ParseInt(32) agrees with BigInt on decimal strings', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 40n), max: 2n ** 40n }), (n) => {
        const inRange = n >= -(2n ** 31n) && n < 2n ** 31n;
        if (inRange) expect(parseGoInt32(n.toString())).toBe(Number(n));
        else expect(() => parseGoInt32(n.toString())).toThrow(/value out of range/);
      }),
    );
  });
});

describe('go-csvvalue Fields', () => {
  it('splits one record', () => {
    expect(csvFields('a,b,,c')).toEqual(['a', 'b', '', 'c']);
    expect(csvFields('a,')).toEqual(['a', '']);
    expect(csvFields('"a,b",c')).toEqual(['a,b', 'c']);
    expect(csvFields('"say ""hi""",x')).toEqual(['say "hi"', 'x']);
    expect(csvFields('""')).toEqual(['']);
    expect(csvFields('a,b\n')).toEqual(['a', 'b']);
    expect(csvFields('a,b\r\n')).toEqual(['a', 'b']);
  });

  it('reports Go’s errors with byte columns', () => {
    expect(() => csvFields('')).toThrow('EOF');
    expect(() => csvFields('\n')).toThrow('EOF');
    expect(() => csvFields('é,a"b')).toThrow('parse error on line 1, column 5: bare " in non-quoted-field');
    expect(() => csvFields('"a"b')).toThrow('parse error on line 1, column 3: extraneous or missing " in quoted-field');
    expect(() => csvFields('"abc')).toThrow('parse error on line 1, column 2: extraneous or missing " in quoted-field');
  });

  it('reads back what a CSV writer quotes', () => {
    const field = fc.string({ unit: 'binary', maxLength: 10 });
    fc.assert(
      fc.property(fc.array(field, { minLength: 1, maxLength: 6 }), (fields) => {
        const record = fields.map((f) => `"${f.replaceAll('"', '""')}"`).join(',');
        expect(csvFields(record)).toEqual(fields);
      }),
    );
  });

  it('splits plain fields on commas', () => {
    const plain = fc.string({ unit: 'binary', maxLength: 10 }).filter((f) => !/[",\n\r]/.test(f));
    fc.assert(
      fc.property(fc.array(plain, { minLength: 1, maxLength: 6 }), (fields) => {
        const record = fields.join(',');
        fc.pre(record !== '');
        expect(csvFields(record)).toEqual(fields);
      }),
    );
  });
});
