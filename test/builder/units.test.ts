import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseChmod } from '../../src/builder/copy/chmod.js';
import { cleanDest } from '../../src/builder/copy/copy.js';
import { goDuration, goQuote, goQuoteList } from '../../src/builder/go-format.js';
import { VarList } from '../../src/builder/scope.js';
import { destinationPath } from '../../src/builder/copy/destination.js';
import { isSignal } from '../../src/builder/steps/metadata.js';
import { workdirPath } from '../../src/builder/steps/workdir.js';
import { parseGroup, parsePasswd } from '../../src/sandbox/users.js';
import { isGoPrint } from '../../src/dockerfile/unicode.js';

const segment = fc.constantFrom('a', 'b', 'dir', '.', '..', '', 'x y');
const pathText = fc.array(segment, { maxLength: 6 }).map((parts) => parts.join('/'));

describe('destination paths', () => {
  it('are absolute and clean, keep a trailing slash, and resolve relative ones against WORKDIR', () => {
    fc.assert(
      fc.property(fc.option(pathText.map((p) => cleanDest('/' + p)), { nil: undefined }), fc.boolean(), pathText, fc.boolean(), (workdir, absolute, rel, slash) => {
        const dest = (absolute ? '/' : '') + rel + (slash ? '/' : '');
        const out = destinationPath(workdir, dest);
        expect(out.startsWith('/')).toBe(true);
        expect(out).not.toMatch(/\/\/|\/\.\/|\/\.\.(\/|$)|\/\.$/);
        const wantsSlash = dest === '' || dest === '.' || dest.endsWith('/') || dest.endsWith('/.');
        if (out !== '/') expect(out.endsWith('/')).toBe(wantsSlash);
        if (!dest.startsWith('/') && workdir !== undefined && workdir !== '/' && !rel.split('/').includes('..')) {
          expect(out.startsWith(workdir)).toBe(true);
        }
      }),
    );
    expect(destinationPath('/app', '.')).toBe('/app/');
    expect(destinationPath('/app', 'b')).toBe('/app/b');
    expect(destinationPath(undefined, 'b/')).toBe('/b/');
    expect(workdirPath('/a', '../b/./c')).toBe('/b/c');
  });
});

describe('--chmod', () => {
  it('octal values set the mode whatever it was; values over 07777 are refused', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0o7777 }), fc.integer({ min: 0, max: 0o7777 }), fc.boolean(), (value, mode, isDir) => {
        expect(parseChmod(value.toString(8))!.apply(mode, isDir)).toBe(value);
      }),
    );
    expect(parseChmod('17777')).toBeUndefined();
    expect(parseChmod('u+q')).toBeUndefined();
  });

  it('symbolic: + then - of the same bits clears them; = sets exactly; X only for directories or executables', () => {
    const who = fc.constantFrom('u', 'g', 'o', 'a', 'ug', '');
    const perms = fc.constantFrom('r', 'w', 'x', 'rw', 'rwx');
    fc.assert(
      fc.property(who, perms, fc.integer({ min: 0, max: 0o777 }), (w, p, mode) => {
        const added = parseChmod(`${w}+${p}`)!.apply(mode, false);
        const removed = parseChmod(`${w}-${p}`)!.apply(added, false);
        expect(removed & mode).toBe(removed);
        expect(parseChmod(`${w}-${p}`)!.apply(mode, false)).toBe(removed);
        expect(added | mode).toBe(added);
      }),
    );
    expect(parseChmod('u=rw,go=r')!.apply(0o777, false)).toBe(0o644);
    expect(parseChmod('a+X')!.apply(0o600, false)).toBe(0o600);
    expect(parseChmod('a+X')!.apply(0o700, false)).toBe(0o711);
    expect(parseChmod('a+X')!.apply(0o600, true)).toBe(0o711);
    expect(parseChmod('g=u')!.apply(0o750, false)).toBe(0o770);
  });
});

describe('Go formatting in history entries', () => {
  it('quotes like strconv.Quote', () => {
    expect(goQuoteList(['/bin/sh', '-c', 'echo "hi"\tx\\'])).toBe('["/bin/sh" "-c" "echo \\"hi\\"\\tx\\\\"]');
    expect(goQuote('\u0001\u007f é')).toBe('"\\x01\\x7f é"');
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        // Where Go's escapes are JSON's too, the quoted text reads back as JSON: not for what
        // Go 1.19's tables (BuildKit's reference) call unprintable, which it writes as \u/\U escapes.
        if (/[\u0000-\u0008\u000b\u000e-\u001f\u007f-\u009f\ufeff]/.test(s)) return;
        if ([...s].some((ch) => ch.codePointAt(0)! >= 0x80 && !isGoPrint(ch.codePointAt(0)!))) return;
        expect(JSON.parse(goQuote(s))).toBe(s);
      }),
    );
  });

  it('prints durations like time.Duration', () => {
    expect([0, 1, 1500, 500e6, 1e9, 1.5e9, 90e9, 3600e9, 3723.5e9].map(goDuration)).toEqual([
      '0s',
      '1ns',
      '1.5µs',
      '500ms',
      '1s',
      '1.5s',
      '1m30s',
      '1h0m0s',
      '1h2m3.5s',
    ]);
  });
});

describe('users and groups', () => {
  const name = fc.stringMatching(/^[a-z_][a-z0-9_-]{0,8}$/);
  it('parses the passwd and group lines it is given, skipping malformed ones', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(name, fc.nat(70000), fc.nat(70000)), { maxLength: 8 }), (users) => {
        const text = users.map(([n, u, g]) => `${n}:x:${u}:${g}:gecos:/home/${n}:/bin/sh`).join('\n') + '\nbroken line\n#comment:x:1:1\n';
        expect(parsePasswd(text)).toEqual(users.map(([n, u, g]) => ({ name: n, uid: u, gid: g, home: `/home/${n}` })));
      }),
    );
    expect(parseGroup('wheel:x:10:root,app\nbad:x:y:\n')).toEqual([{ name: 'wheel', gid: 10, members: ['root', 'app'] }]);
  });
});

describe('scope and signals', () => {
  it('VarList keeps first-set order and the last value', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('A', 'B', 'C', 'D'), fc.string({ maxLength: 3 })), { maxLength: 12 }), (sets) => {
        const list = new VarList();
        for (const [k, v] of sets) list.set(k, v);
        const order = [...new Set(sets.map(([k]) => k))];
        expect(list.keys()).toEqual(order);
        for (const k of order) expect(list.get(k)).toBe(sets.filter(([key]) => key === k).at(-1)![1]);
        expect(VarList.fromList(list.toList()).toList()).toEqual(list.toList());
      }),
    );
  });

  it('accepts the signals moby accepts', () => {
    for (const s of ['SIGTERM', 'TERM', 'sigkill', '9', 'SIGRTMIN+3', 'RTMAX-1']) expect(isSignal(s)).toBe(true);
    for (const s of ['SIGNOPE', '0', '65', 'RTMIN+31', '']) expect(isSignal(s)).toBe(false);
  });
});
