/**
 * The one xattr reader (getfattr): dump parsing, batching by command-line
 * length, requests of one event-loop turn sharing runs, no run for nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { entriesFromDirectory } from '../../src/layers/from-directory.js';
import { findGetfattr, getfattrReader, isHostXattr, parseGetfattrDump, readTreeXattrs, type XattrMap } from '../../src/layers/xattrs.js';
import { getfattrReader as contextReader, parseGetfattrDump as contextParse } from '../../src/context/xattrs.js';
import { readTreeXattrs as runReadTree, readXattrs as runReadXattrs } from '../../src/sandbox/xattrs.js';

const haveGetfattr = spawnSync('getfattr', ['--version']).status === 0 && spawnSync('setfattr', ['--version']).status === 0;
if (!haveGetfattr && process.env.CI) throw new Error('getfattr/setfattr missing (Debian package attr; required under CI)');
if (!haveGetfattr) console.warn('skipping getfattr runs: getfattr/setfattr not installed');

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});
function temp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'layerkit-xattrs-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Puts a `getfattr` that logs each run in front of PATH; returns the number of runs so far. */
function countingGetfattr(): () => number {
  const bin = temp();
  const log = join(bin, 'runs.log');
  writeFileSync(log, '');
  const real = spawnSync('sh', ['-c', 'command -v getfattr'], { encoding: 'utf8' }).stdout.trim();
  writeFileSync(join(bin, 'getfattr'), `#!/bin/sh\necho run >> '${log}'\nexec '${real}' "$@"\n`);
  chmodSync(join(bin, 'getfattr'), 0o755);
  const before = process.env.PATH;
  process.env.PATH = `${bin}${delimiter}${before ?? ''}`;
  cleanups.push(() => {
    process.env.PATH = before;
  });
  return () => readFileSync(log, 'utf8').split('\n').filter(Boolean).length;
}

function setfattr(path: string, name: string, value: string): boolean {
  return spawnSync('setfattr', ['-h', '-n', name, '-v', value, path]).status === 0;
}

describe('parseGetfattrDump', () => {
  it('reads hex values, empty values, escaped names and text values; drops excluded names and paths left with none', () => {
    const dump = Buffer.from(
      [
        '# file: /a\\012b',
        'user.k=0x6869',
        'user.empty',
        'security.selinux=0x733000',
        '',
        '# file: /only-label',
        'security.selinux=0x733000',
        '',
        '# file: /back\\134slash',
        '__proto__=0x01',
        'user.text="hi"',
        '',
      ].join('\n'),
    );
    const out: XattrMap = new Map();
    parseGetfattrDump(dump, out, isHostXattr);
    expect([...out.keys()]).toEqual(['/a\nb', '/back\\slash']);
    expect(out.get('/a\nb')).toEqual({ 'user.k': Uint8Array.of(0x68, 0x69), 'user.empty': new Uint8Array(0) });
    const odd = out.get('/back\\slash')!;
    expect(Object.keys(odd)).toEqual(['__proto__', 'user.text']);
    expect(odd['__proto__']).toEqual(Uint8Array.of(1));
    expect(odd['user.text']).toEqual(new TextEncoder().encode('hi'));
    // Without a filter the label stays.
    const all: XattrMap = new Map();
    parseGetfattrDump(dump, all);
    expect(all.get('/only-label')).toEqual({ 'security.selinux': Uint8Array.of(0x73, 0x30, 0) });
  });

  it('keeps the build context filter (com.apple.*) behind the old name', () => {
    const out: XattrMap = new Map();
    contextParse(Buffer.from('# file: /f\ncom.apple.quarantine=0x01\nuser.a=0x02\n\n# file: /g\ncom.apple.x=0x01\n\n'), out);
    expect(out).toEqual(new Map([['/f', { 'user.a': Uint8Array.of(2) }]]));
  });
});

describe.runIf(haveGetfattr || Boolean(process.env.CI))('getfattr runs', () => {
  function fixture(): { dir: string; files: string[] } | undefined {
    const dir = temp();
    mkdirSync(join(dir, 'sub'));
    const files = [join(dir, 'plain'), join(dir, 'tagged'), join(dir, 'sub', 'ünï côdé\nname'), join(dir, 'sub', 'link')];
    writeFileSync(files[0]!, 'x');
    writeFileSync(files[1]!, 'y');
    writeFileSync(files[2]!, 'z');
    symlinkSync('../tagged', files[3]!);
    if (!setfattr(files[1]!, 'user.one', '0x0102') || !setfattr(files[2]!, 'user.two', '0x03')) {
      console.warn('skipping: the temp file system refuses user xattrs');
      return undefined;
    }
    return { dir, files };
  }

  it('reads the same attributes per path list, per tree and through the old module names', async () => {
    const f = fixture();
    if (!f) return;
    const want = new Map([
      [f.files[1]!, { 'user.one': Uint8Array.of(1, 2) }],
      [f.files[2]!, { 'user.two': Uint8Array.of(3) }],
    ]);
    expect(await (await getfattrReader())!.read(f.files)).toEqual(want);
    expect(await readTreeXattrs(f.dir)).toEqual(want);
    expect(await (await contextReader())!.read(f.files)).toEqual(want);
    expect(await runReadXattrs(f.files)).toEqual(want);
    expect(await runReadTree(f.dir)).toEqual(want);
    // The symlink's own attributes, not its target's.
    expect((await (await getfattrReader())!.read([f.files[3]!])).size).toBe(0);
    // And the directory walk picks them up.
    const entries = await entriesFromDirectory(f.dir);
    expect(entries.find((e) => e.path === '/tagged')!.xattrs).toEqual({ 'user.one': Uint8Array.of(1, 2) });
    expect(entries.find((e) => e.path === '/plain')!.xattrs).toBeUndefined();
  });

  it('starts no run for nothing, one run for requests of the same turn, and cuts long lists by command-line length', async () => {
    const f = fixture();
    if (!f) return;
    const runs = countingGetfattr();
    const reader = (await getfattrReader())!;
    expect(await reader.read([])).toEqual(new Map());
    expect(runs()).toBe(0);

    const [a, b, c] = await Promise.all([reader.read([f.files[0]!]), reader.read([f.files[1]!]), reader.read([f.files[2]!, f.files[1]!])]);
    expect(runs()).toBe(1);
    expect([...a.keys()]).toEqual([]);
    expect([...b.keys()]).toEqual([f.files[1]!]);
    expect([...c.keys()].sort()).toEqual([f.files[1]!, f.files[2]!].sort());

    // 2,500 paths of ~100 characters: ~250,000 characters, three command lines of at most 100,000.
    const many: string[] = [];
    const long = join(f.dir, 'p'.repeat(60));
    mkdirSync(long);
    for (let i = 0; i < 2500; i++) many.push(join(long, `missing-${String(i).padStart(20, '0')}`));
    many.push(f.files[1]!);
    const before = runs();
    const found = await reader.read(many);
    expect(runs() - before).toBe(Math.ceil(many.reduce((n, p) => n + p.length + 1, 0) / 100_000));
    expect([...found.keys()]).toEqual([f.files[1]!]);
  });

  it('finds getfattr once per PATH, and nothing where it is not installed', async () => {
    const before = process.env.PATH;
    cleanups.push(() => {
      process.env.PATH = before;
    });
    process.env.PATH = temp();
    expect(await findGetfattr()).toBeUndefined();
    expect(await getfattrReader()).toBeUndefined();
    expect(await readTreeXattrs(tmpdir())).toBeUndefined();
    expect(await runReadXattrs([tmpdir()])).toEqual(new Map());
    process.env.PATH = before;
    expect(await findGetfattr()).toMatch(/getfattr$/);
  });
});
