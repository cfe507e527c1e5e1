import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  InvalidReferenceError,
  isValidRefName,
  isValidReference,
  isValidTag,
  parseReference,
  parseTagReference,
} from '../../src/image/index.js';

const HEX = 'a1b2c3d4'.repeat(8);
const DIGEST = `sha256:${HEX}`;

// Expected values follow Docker's documented reference grammar and normalization
// (distribution/reference: ParseNormalizedNamed + ParseDockerRef).
const valid: Array<[input: string, canonical: string, familiar: string]> = [
  ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
  ['busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
  ['library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
  ['docker.io/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
  ['index.docker.io/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
  ['index.docker.io/me/app:v1', 'docker.io/me/app:v1', 'me/app:v1'],
  ['me/app', 'docker.io/me/app:latest', 'me/app:latest'],
  ['docker.io/library/a/b', 'docker.io/library/a/b:latest', 'library/a/b:latest'],
  ['localhost/app', 'localhost/app:latest', 'localhost/app:latest'],
  ['localhost:5000/app:1', 'localhost:5000/app:1', 'localhost:5000/app:1'],
  ['example.com/a/b/c:tag', 'example.com/a/b/c:tag', 'example.com/a/b/c:tag'],
  ['127.0.0.1:5000/x', '127.0.0.1:5000/x:latest', '127.0.0.1:5000/x:latest'],
  ['[::1]:5000/app', '[::1]:5000/app:latest', '[::1]:5000/app:latest'],
  ['[fc00:1:2:3:4:5:6:7]:5000/library/debian', '[fc00:1:2:3:4:5:6:7]:5000/library/debian:latest', '[fc00:1:2:3:4:5:6:7]:5000/library/debian:latest'],
  ['LOCALDOMAIN/debian', 'LOCALDOMAIN/debian:latest', 'LOCALDOMAIN/debian:latest'],
  ['Example.com/app', 'Example.com/app:latest', 'Example.com/app:latest'],
  ['a__b/c-d---e/f.g_h', 'docker.io/a__b/c-d---e/f.g_h:latest', 'a__b/c-d---e/f.g_h:latest'],
  // The first component has a '.', so it is taken for a domain; it is not a valid host, and the grammar reads it as a path.
  ['a.b__c/d', 'a.b__c/d:latest', 'a.b__c/d:latest'],
  [`busybox@${DIGEST}`, `docker.io/library/busybox@${DIGEST}`, `busybox@${DIGEST}`],
  [`busybox:1.36@${DIGEST}`, `docker.io/library/busybox@${DIGEST}`, `busybox@${DIGEST}`],
  ['busybox:_x', 'docker.io/library/busybox:_x', 'busybox:_x'],
  [`busybox:${'a'.repeat(128)}`, `docker.io/library/busybox:${'a'.repeat(128)}`, `busybox:${'a'.repeat(128)}`],
  // A bare host:port has no slash, so it is a Docker Hub name with a tag (Docker's documented quirk).
  ['localhost:5000', 'docker.io/library/localhost:5000', 'localhost:5000'],
  [`docker.io/${HEX}`, `docker.io/library/${HEX}:latest`, `${HEX}:latest`],
  ['thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev', 'docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev:latest', 'thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev:latest'],
];

const invalid: Array<[input: string, reason: RegExp]> = [
  ['', /at least one component/],
  ['Busybox', /lowercase/],
  ['me/App', /lowercase/],
  ['docker.io/docker/Docker', /lowercase/],
  ['busybox:', /format/],
  ['busybox:-x', /format/],
  [`busybox:${'a'.repeat(129)}`, /format/],
  ['busybox tag', /format/],
  ['-docker', /format/],
  ['-docker/docker', /format/],
  ['docker-/docker', /format/],
  ['dock..er/docker', /format/],
  ['dock_.er/docker', /format/],
  ['____/____', /format/],
  ['docker///docker', /format/],
  ['docker/', /format/],
  ['https://github.com/docker/docker', /format/],
  [HEX, /64-byte hexadecimal/],
  ['[fc00::1]:5000', /format/],
  ['fc00::1:5000/debian', /format/],
  ['[fe80::1%eth0]:5000/debian', /format/],
  ['busybox@sha256:abc', /format/],
  [`busybox@sha256:${HEX.toUpperCase()}`, /lowercase/],
  [`busybox@md5:${'a'.repeat(32)}`, /unsupported algorithm/],
  [`${'a/'.repeat(128)}b`, /255/],
];

describe('parseReference', () => {
  it.each(valid)('%s → %s', (input, canonical, familiar) => {
    const ref = parseReference(input);
    expect(ref.canonical).toBe(canonical);
    expect(ref.familiar).toBe(familiar);
    expect(ref.domain === '' ? ref.path : `${ref.domain}/${ref.path}`).toBe(ref.name);
    expect(isValidReference(input)).toBe(true);
  });

  it.each(invalid)('rejects %j', (input, reason) => {
    let caught: unknown;
    try {
      parseReference(input);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidReferenceError);
    const err = caught as InvalidReferenceError;
    expect(err.code).toBe('INVALID_REFERENCE');
    expect(err.data.reference).toBe(input);
    expect(err.data.reason).toMatch(reason);
    expect(isValidReference(input)).toBe(false);
  });

  it('isValidReference answers false, never throws, for a value that is not a string', () => {
    fc.assert(
      fc.property(fc.anything().filter((v) => typeof v !== 'string'), (value) => {
        expect(isValidReference(value)).toBe(false);
      }),
    );
  });

  it('can leave the tag off', () => {
    const ref = parseReference('busybox', { defaultTag: false });
    expect(ref.tag).toBeUndefined();
    expect(ref.canonical).toBe('docker.io/library/busybox');
  });

  it('parseTagReference refuses digests', () => {
    expect(parseTagReference('me/app').tag).toBe('latest');
    expect(() => parseTagReference(`me/app@${DIGEST}`)).toThrow(InvalidReferenceError);
  });

  it('isValidTag follows [\\w][\\w.-]{0,127}', () => {
    expect(isValidTag('1.36.1-glibc')).toBe(true);
    expect(isValidTag('_')).toBe(true);
    expect(isValidTag('.x')).toBe(false);
    expect(isValidTag('a'.repeat(129))).toBe(false);
    expect(isValidTag('a:b')).toBe(false);
  });

  it('isValidRefName follows the OCI ref.name grammar', () => {
    for (const ok of ['v1', 'v1.0', 'latest', 'example.com/app:1', 'a--b', 'a+b@c', 'a_b', 'A/B']) expect(isValidRefName(ok)).toBe(true);
    for (const bad of ['', 'a b', '-a', 'a-', 'a//b', 'a/', 'a---b', 'a__b', 'a~b']) expect(isValidRefName(bad)).toBe(false);
  });

  const component = fc.stringMatching(/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/).filter((s) => s.length <= 30);
  const refArb = fc.record({
    domain: fc.option(fc.constantFrom('localhost', 'example.com', 'registry.example.com:5000', '127.0.0.1:5000', '[::1]:443', 'docker.io', 'index.docker.io'), { nil: undefined }),
    path: fc.array(component, { minLength: 1, maxLength: 3 }),
    tag: fc.option(fc.stringMatching(/^[\w][\w.-]{0,20}$/), { nil: undefined }),
    digest: fc.option(fc.constant(DIGEST), { nil: undefined }),
  });
  const render = (r: { domain?: string; path: string[]; tag?: string; digest?: string }) =>
    `${r.domain ? `${r.domain}/` : ''}${r.path.join('/')}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;

  it('property: normalization is idempotent and the familiar form normalizes back', () => {
    fc.assert(
      fc.property(refArb, (r) => {
        const input = render(r);
        fc.pre(!/^[a-f0-9]{64}$/.test(input));
        const ref = parseReference(input);
        expect(parseReference(ref.canonical)).toEqual(ref);
        // Docker's familiar form drops docker.io/ even when the path's first component looks like a
        // host (`docker.io/0.0/a` → `0.0/a`), and such a form reads back as another registry; skip those.
        const first = ref.familiar.split('/')[0] as string;
        if (!(ref.familiar.includes('/') && /[.:]|^localhost$/.test(first) && ref.domain === 'docker.io')) {
          expect(parseReference(ref.familiar).canonical).toBe(ref.canonical);
        }
        expect(ref.tag === undefined).toBe(r.digest !== undefined);
        if (r.digest) expect(ref.digest).toBe(r.digest);
        else expect(ref.tag).toBe(r.tag ?? 'latest');
      }),
    );
  });

  it('property: any uppercase letter in the path is refused', () => {
    fc.assert(
      fc.property(refArb, fc.nat(), (r, at) => {
        const path = r.path.join('/');
        const i = at % path.length;
        fc.pre(/[a-z]/.test(path[i] as string));
        const upper = { ...r, path: [path.slice(0, i) + (path[i] as string).toUpperCase() + path.slice(i + 1)] };
        // An uppercase first component with more components would be read as a domain, so keep one component.
        fc.pre(r.domain !== undefined || !upper.path[0]!.includes('/'));
        expect(() => parseReference(render(upper))).toThrow(InvalidReferenceError);
      }),
    );
  });
});
