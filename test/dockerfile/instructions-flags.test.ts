import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDockerfile } from '../../src/dockerfile/index.js';
import { FlagError, FlagTable } from '../../src/dockerfile/instructions/flags.js';
import { parseInstructions } from '../../src/dockerfile/index.js';

const TABLE = new FlagTable({
  from: 'string',
  network: { kind: 'string', default: 'default' },
  link: 'bool',
  exclude: 'strings',
});

function failure(words: string[]): FlagError {
  try {
    TABLE.parse(words);
  } catch (err) {
    if (err instanceof FlagError) return err;
    throw err;
  }
  throw new Error(`${JSON.stringify(words)} parsed`);
}

describe('FlagTable', () => {
  it('gives every declared flag its default when no word sets it', () => {
    expect(TABLE.parse([])).toEqual({ values: { from: '', network: 'default', link: false, exclude: [] }, used: [] });
  });

  it('reads strings, bools in any case, repeatable lists, and stops at --', () => {
    const { values, used } = TABLE.parse(['--exclude=a', '--link=TRUE', '--from=build', '--exclude=b', '--', '--bogus']);
    expect(values).toEqual({ from: 'build', network: 'default', link: true, exclude: ['a', 'b'] });
    expect(used).toEqual(['exclude', 'link', 'from']);
    expect(TABLE.parse(['--link=false']).values.link).toBe(false);
    expect(TABLE.parse(['--link']).values.link).toBe(true);
  });

  it('keeps no state between parses: each result has its own lists', () => {
    const first = TABLE.parse(['--exclude=a']);
    const second = TABLE.parse([]);
    first.values.exclude.push('mutated');
    expect(second.values.exclude).toEqual([]);
    expect(TABLE.parse([]).values.exclude).toEqual([]);
  });

  it('rejects words with BuildKit’s messages', () => {
    expect(failure(['from=x']).message).toBe('arg should start with -- : from=x');
    expect(failure(['--form=x'])).toMatchObject({ message: 'unknown flag: --form (did you mean from?)', suggestion: 'from' });
    expect(failure(['--from=a', '--from=b']).message).toBe('duplicate flag specified: --from');
    expect(failure(['--link', '--link']).message).toBe('duplicate flag specified: --link');
    expect(failure(['--from']).message).toBe('missing a value on flag: --from');
    expect(failure(['--link=']).message).toBe('missing a value on flag: --link');
    expect(failure(['--link=yes']).message).toBe('expecting boolean value for flag --link, not: yes');
  });

  it('agrees with a model on any sequence of well-formed words', () => {
    const word = fc.oneof(
      fc.string({ maxLength: 4 }).map((v) => ['from', `--from=${v}`] as const),
      fc.string({ maxLength: 4 }).map((v) => ['network', `--network=${v}`] as const),
      fc.constantFrom(['link', '--link'] as const, ['link', '--link=false'] as const, ['link', '--link=True'] as const),
      fc.string({ maxLength: 4 }).map((v) => ['exclude', `--exclude=${v}`] as const),
    );
    fc.assert(
      fc.property(fc.array(word, { maxLength: 6 }), (pairs) => {
        const names = pairs.map(([name]) => name);
        const repeated = names.some((n, i) => n !== 'exclude' && names.indexOf(n) !== i);
        const words = pairs.map(([, w]) => w);
        if (repeated) {
          expect(() => TABLE.parse(words)).toThrow(FlagError);
          return;
        }
        const model = { from: '', network: 'default', link: false, exclude: [] as string[] };
        for (const w of words) {
          const [flag, value] = [w.slice(2, w.includes('=') ? w.indexOf('=') : undefined), w.includes('=') ? w.slice(w.indexOf('=') + 1) : undefined];
          if (flag === 'exclude') model.exclude.push(value!);
          else if (flag === 'link') model.link = value === undefined || value.toLowerCase() === 'true';
          else model[flag as 'from' | 'network'] = value!;
        }
        expect(TABLE.parse(words)).toEqual({ values: model, used: [...new Set(names)] });
      }),
    );
  });
});

describe('typed instructions are plain data', () => {
  it('has only data properties, no accessors, on every instruction', () => {
    const text = [
      'FROM --platform=linux/amd64 alpine AS base',
      'RUN --mount=type=cache,target=/c --network=none --device=gpu true',
      'COPY --from=base --link --exclude=*.md a b /dst/',
      'ADD --keep-git-dir --checksum=sha256:00 https://example.com/x /x',
      'HEALTHCHECK --interval=5s --retries=2 CMD true',
      'ENV A=1',
    ].join('\n');
    const { stages } = parseInstructions(parseDockerfile(text));
    const instructions = [stages[0]!.from, ...stages[0]!.instructions];
    for (const instruction of instructions) {
      for (const [key, descriptor] of Object.entries(Object.getOwnPropertyDescriptors(instruction))) {
        expect('value' in descriptor, `${instruction.kind}.${key}`).toBe(true);
      }
    }
    const [run, copy, add] = stages[0]!.instructions;
    expect(run).toMatchObject({ kind: 'run', network: 'none', security: 'sandbox', mountSpecs: ['type=cache,target=/c'], flagsUsed: ['mount', 'network', 'device'] });
    expect(copy).toMatchObject({ kind: 'copy', from: 'base', link: true, parents: false, exclude: ['*.md'], sources: ['a', 'b'] });
    expect(add).toMatchObject({ kind: 'add', keepGitDir: true, checksum: 'sha256:00' });
    expect(add).not.toHaveProperty('unpack');
  });
});
