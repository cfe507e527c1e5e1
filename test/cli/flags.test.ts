/**
 * Option spelling of the store, transfer, parse and build verbs, run
 * in-process through `main`: every verb reads options as docker does
 * (short aliases, grouped switches, `--flag=value`, `--switch=false`,
 * repeatable values kept in order, the last value of the others), and bad
 * usage exits 2 with the message and the usage text.
 */
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFlags, type CliIo, type FlagSpec } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';

interface Outcome {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process; `stdin` is what `-` reads. */
async function cli(argv: string[], stdin = ''): Promise<Outcome> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    readText: (p) => (p === '-' ? Promise.resolve(stdin) : readFile(p, 'utf8')),
  };
  const status = await main(argv, io);
  return { status, stdout, stderr };
}

interface Inspected {
  Id: string;
  RepoTags: string[];
  Config: { Labels?: Record<string, string>; Env?: string[] };
}

async function inspect(store: string, ref: string): Promise<Inspected> {
  const out = await cli(['inspect', `--store=${store}`, ref]);
  expect(out.status, out.stderr).toBe(0);
  return (JSON.parse(out.stdout) as Inspected[])[0]!;
}

let work: string;
let store: string;
let ctx: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lk-cli-flags-'));
  store = join(work, 'store');
  ctx = join(work, 'ctx');
  await mkdir(ctx, { recursive: true });
  await writeFile(join(ctx, 'f.txt'), 'f\n');
  await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nARG A\nARG B\nLABEL a=$A b=$B\nCOPY f.txt /f.txt\n');
  await writeFile(join(ctx, 'Other.Dockerfile'), 'FROM scratch\nLABEL which=other\nCOPY f.txt /g.txt\n');
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('build', () => {
  it('takes grouped -qt, repeated -t and --build-arg in both spellings, and --flag=value', async () => {
    const built = await cli([
      'build', `--store=${store}`, '--source-date-epoch=0', '--no-run',
      '-qt', 'one', '-ttwo:2', '--tag=three:3',
      '--build-arg', 'A=1', '--build-arg=B=2', '--label=L=x', '--label', 'M=y',
      ctx,
    ]);
    expect(built.stderr).toBe('');
    expect(built.status).toBe(0);
    expect(built.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const image = await inspect(store, 'one');
    expect(image.Id).toBe(built.stdout.trim());
    expect(image.RepoTags).toEqual(expect.arrayContaining(['one:latest', 'two:2', 'three:3']));
    expect(image.Config.Labels).toEqual({ a: '1', b: '2', L: 'x', M: 'y' });
  });

  it('keeps the last value of a non-repeatable option, as docker does', async () => {
    const built = await cli(['build', '--store', store, '-q', '--no-run', '-f', 'missing.Dockerfile', `-f${join(ctx, 'Other.Dockerfile')}`, '-t', 'other', ctx]);
    expect(built.stderr).toBe('');
    expect(built.status).toBe(0);
    expect((await inspect(store, 'other')).Config.Labels).toEqual({ which: 'other' });
  });

  it('turns a switch off with =false: --quiet=false prints the full report', async () => {
    const built = await cli(['build', '--store', store, '--quiet=false', '--progress', 'plain', '--no-run=true', ctx]);
    expect(built.status).toBe(0);
    expect(built.stdout).toMatch(/^built sha256:/);
  });

  it('wants exactly one CONTEXT, and -- ends the options', async () => {
    for (const argv of [['build'], ['build', ctx, ctx]]) {
      const out = await cli(argv);
      expect(out.status, argv.join(' ')).toBe(2);
      expect(out.stderr).toContain('layerkit build: expected exactly one CONTEXT directory\n\nUsage: layerkit build');
    }
    // After --, "-q" is the context: a directory that is not there (status 1), not the switch.
    const dashed = await cli(['build', '--store', store, '--no-run', '--', '-q']);
    expect(dashed.stderr).not.toContain('Usage:');
    expect(dashed.status).toBe(1);
  });
});

describe('the store verbs', () => {
  it('images: -q and --quiet agree; --quiet=false and --digests=true give the table', async () => {
    const short = await cli(['images', '-q', '--store', store]);
    expect(short.status).toBe(0);
    expect(short.stdout).toMatch(/^([0-9a-f]{12}\n)+$/);
    expect(await cli(['images', '--quiet', `--store=${store}`])).toEqual(short);
    const table = await cli(['images', '--quiet=false', '--digests=true', '--store', store]);
    expect(table.stdout).toMatch(/^REPOSITORY\s+TAG\s+DIGEST\s+IMAGE ID/);
  });

  it('history, tag, rmi -f and prune read their options in any order', async () => {
    const history = await cli(['history', 'one', '--no-trunc', '--store', store]);
    expect(history.status).toBe(0);
    expect(history.stdout).toMatch(/^CREATED\s+CREATED BY/);
    expect((await cli(['tag', 'one', `--store=${store}`, 'four:4'])).status).toBe(0);
    const id = (await inspect(store, 'four:4')).Id;
    // By ID with several tags, rmi needs -f.
    const refused = await cli(['rmi', '--store', store, id]);
    expect(refused.status).toBe(1);
    const forced = await cli(['rmi', id, '-f', '--store', store]);
    expect(forced.status, forced.stderr).toBe(0);
    expect(forced.stdout).toContain('Untagged: docker.io/library/four:4');
    expect(forced.stdout).toContain(`Deleted: `);
    const pruned = await cli(['prune', '--dangling=true', '--store', store]);
    expect(pruned.status).toBe(0);
    expect(pruned.stdout).toMatch(/Total reclaimed space: /);
  });
});

describe('save, load, cache, parse', () => {
  it('save -oFILE and --output=FILE, load -i FILE and --input=FILE', async () => {
    const a = join(work, 'a.tar');
    const b = join(work, 'b.tar');
    expect((await cli(['save', `-o${a}`, '--store', store, 'other'])).status).toBe(0);
    expect((await cli(['save', `--output=${b}`, '--format=oci', '--store', store, 'other'])).status).toBe(0);
    expect((await stat(a)).size).toBeGreaterThan(0);
    const into = join(work, 'loaded');
    for (const input of [['-i', a], [`--input=${b}`]]) {
      const loaded = await cli(['load', ...input, '--store', into]);
      expect(loaded.stderr).toBe('');
      expect(loaded).toMatchObject({ status: 0, stdout: 'Loaded image: other:latest\n' });
    }
  });

  it('cache du and cache prune -a / --all=true / --keep-storage=SIZE', async () => {
    const du = await cli(['cache', 'du', `--store=${store}`]);
    expect(du.stdout).toMatch(/^Records: +\d+\n/);
    const keep = await cli(['cache', 'prune', '--keep-storage=1GB', '--store', store]);
    expect(keep.stdout).toMatch(/^Deleted build cache records: 0\n/);
    const all = await cli(['cache', 'prune', '-a', '--store', store]);
    expect(all.status).toBe(0);
    expect(all.stdout).toMatch(/^Deleted build cache records: [1-9]\d*\n/);
    expect((await cli(['cache', 'prune', '--all=true', '--store', store])).stdout).toMatch(/^Deleted build cache records: 0\n/);
  });

  it('parse: - is standard input; --format json and --format=json; --no-strict=false', async () => {
    const text = 'FROM a\nRUN x\n';
    const spaced = await cli(['parse', '--format', 'json', '-'], text);
    expect(spaced.status).toBe(0);
    expect(await cli(['parse', '-', '--format=json'], text)).toEqual(spaced);
    const strict = await cli(['parse', '--no-strict=false', '-'], 'FROM a\nFROBNICATE x\n');
    expect(strict.status).toBe(1);
    expect((await cli(['parse', '--no-strict', '-'], 'FROM a\nFROBNICATE x\n')).status).toBe(0);
  });
});

describe('bad usage exits 2 with the message and the usage text', () => {
  const cases: Array<[string[], string]> = [
    [['images', '--bogus'], 'unknown flag: --bogus'],
    [['images', '-qz'], "unknown shorthand flag: 'z' in -qz"],
    [['inspect', '-x', 'one'], "unknown shorthand flag: 'x' in -x"],
    [['rmi', '--force=yes', 'one'], 'invalid value "yes" for --force: expected true or false'],
    [['prune', '--dangling=maybe'], 'invalid value "maybe" for --dangling: expected true or false'],
    [['save', 'one', '-o'], "flag needs an argument: 'o' in -o"],
    [['save', 'one', '--format'], 'flag needs an argument: --format'],
    [['load', '--input'], 'flag needs an argument: --input'],
    [['cache', 'prune', '--keep-storage'], 'flag needs an argument: --keep-storage'],
    [['cache', 'du', '-a'], "unknown shorthand flag: 'a' in -a"],
    [['parse', '--format'], 'flag needs an argument: --format'],
    [['parse', '--strict=maybe', '-'], 'invalid value "maybe" for --strict: expected true or false'],
    [['build', '--bogus', '.'], 'unknown flag: --bogus'],
    [['build', '.', '-t'], "flag needs an argument: 't' in -t"],
    [['build', '.', '--build-arg'], 'flag needs an argument: --build-arg'],
    [['build', '-qx', '.'], "unknown shorthand flag: 'x' in -qx"],
  ];
  it.each(cases)('%j', async (argv, message) => {
    const out = await cli(argv);
    expect(out.status).toBe(2);
    expect(out.stdout).toBe('');
    expect(out.stderr).toBe(`layerkit ${argv[0]}: ${message}\n\n${(await cli([argv[0]!, '--help'])).stdout}`);
  });
});

describe('parseFlags', () => {
  const specs: FlagSpec[] = [
    { name: 'tag', short: 't', value: true, repeat: true },
    { name: 'file', short: 'f', value: true },
    { name: 'quiet', short: 'q' },
  ];

  it('reads a value the same in all four spellings, whatever the value', () => {
    fc.assert(
      fc.property(fc.string(), (value) => {
        const spellings = [['--file', value], [`--file=${value}`], ['-f', value], ...(value === '' || value.startsWith('=') ? [] : [[`-f${value}`]]), [`-f=${value}`]];
        for (const argv of spellings) expect(parseFlags(argv, specs).flags.get('file'), JSON.stringify(argv)).toBe(value);
      }),
    );
  });

  it('keeps every value of a repeatable option in order, and the last of the others', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('-t', '--tag', '-f', '--file'), fc.string()), { maxLength: 8 }), (pairs) => {
        const { flags, positional } = parseFlags(pairs.flat(), specs);
        expect(positional).toEqual([]);
        expect(flags.all('tag')).toEqual(pairs.filter(([f]) => f === '-t' || f === '--tag').map(([, v]) => v));
        expect(flags.get('file')).toBe(pairs.filter(([f]) => f === '-f' || f === '--file').at(-1)?.[1]);
      }),
    );
  });

  it('groups switches before a value option, which takes the rest of the word or the next argument', () => {
    expect(parseFlags(['-qtx', '-qt', 'y', 'ctx'], specs)).toMatchObject({ positional: ['ctx'] });
    const { flags } = parseFlags(['-qtx', '-qt', 'y'], specs);
    expect(flags.all('tag')).toEqual(['x', 'y']);
    expect(flags.has('quiet')).toBe(true);
    expect(parseFlags(['-q', '--quiet=false'], specs).flags.has('quiet')).toBe(false);
    expect(parseFlags(['-q=false'], specs).flags.given('quiet')).toBe(true);
    expect(parseFlags(['-', '--', '-q'], specs).positional).toEqual(['-', '-q']);
  });
});
