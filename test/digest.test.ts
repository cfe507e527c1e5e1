import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import {
  createSha256,
  defaultHashBackend,
  digestAlgorithm,
  digestHex,
  isDigest,
  parseDigest,
  sha256,
  sha256Stream,
} from '../src/digest.js';
import { InvalidDigestError, LayerkitError } from '../src/errors.js';

describe('digest', () => {
  it('uses node:crypto by default when it exists', () => {
    expect(defaultHashBackend).toBe('node');
    expect(createSha256().backend).toBe('node');
  });

  it('hashes known vectors with both backends', () => {
    for (const backend of ['node', 'noble'] as const) {
      expect(sha256('', { backend })).toBe('sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
      expect(sha256('abc', { backend })).toBe('sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
      // The canonical empty tar: 1024 zero bytes.
      expect(sha256(new Uint8Array(1024), { backend })).toBe(
        'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef',
      );
    }
  });

  it('the forced pure-JS fallback agrees with node:crypto for any chunking', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 12 }), (chunks) => {
        const forced = createSha256({ backend: 'noble' });
        const native = createSha256({ backend: 'node' });
        const whole = createHash('sha256');
        for (const c of chunks) {
          forced.update(c);
          native.update(c);
          whole.update(c);
        }
        expect(forced.backend).toBe('noble');
        const expected = `sha256:${whole.digest('hex')}`;
        expect(forced.digest()).toBe(expected);
        expect(native.digest()).toBe(expected);
      }),
    );
  });

  it('hashes streams and counts bytes', async () => {
    async function* chunks() {
      yield new Uint8Array([1, 2, 3]);
      yield new Uint8Array(70_000).fill(7);
    }
    const all = new Uint8Array(70_003);
    all.set([1, 2, 3]);
    all.fill(7, 3);
    for (const backend of ['node', 'noble'] as const) {
      const { digest, size } = await sha256Stream(chunks(), { backend });
      expect(size).toBe(70_003);
      expect(digest).toBe(sha256(all));
    }
  });

  it('isDigest answers false, never throws, for any value that is not a digest string', () => {
    fc.assert(
      fc.property(fc.anything(), (value) => {
        expect(isDigest(value)).toBe(false);
      }),
    );
    expect(isDigest(`sha256:${'ab'.repeat(32)}`)).toBe(true);
  });

  it('parses valid digests and rejects malformed ones with a typed error', () => {
    const d = parseDigest(`sha256:${'ab'.repeat(32)}`);
    expect(digestAlgorithm(d)).toBe('sha256');
    expect(digestHex(d)).toBe('ab'.repeat(32));
    for (const bad of ['', 'sha256', `md5:${'a'.repeat(32)}`, `sha256:${'A'.repeat(64)}`, `sha256:${'a'.repeat(63)}`, `:${'a'.repeat(64)}`]) {
      expect(isDigest(bad)).toBe(false);
      let caught: unknown;
      try {
        parseDigest(bad);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(InvalidDigestError);
      expect(caught).toBeInstanceOf(LayerkitError);
      expect((caught as InvalidDigestError).code).toBe('INVALID_DIGEST');
      expect((caught as InvalidDigestError).toJSON().data.value).toBe(bad);
    }
  });

  it('round-trips every digest a hasher produces', () => {
    fc.assert(
      fc.property(fc.uint8Array(), (bytes) => {
        const d = sha256(bytes);
        expect(parseDigest(d)).toBe(d);
      }),
    );
  });
});
