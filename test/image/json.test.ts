import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalJsonString,
  formatTimestamp,
  InvalidImageError,
  parseImageConfig,
  parseIndex,
  parseManifest,
} from '../../src/image/index.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

function shuffleKeys(value: unknown, seed: number): unknown {
  if (Array.isArray(value)) return value.map((v, i) => shuffleKeys(v, seed + i));
  if (value === null || typeof value !== 'object') return value;
  const keys = Object.keys(value);
  // Deterministic permutation from the seed.
  const order = keys.map((k, i) => ({ k, r: Math.sin(seed * 7919 + i * 104729) })).sort((a, b) => a.r - b.r);
  return Object.fromEntries(order.map(({ k }) => [k, shuffleKeys((value as Record<string, unknown>)[k], seed + 1)]));
}

describe('canonical JSON', () => {
  it('orders descriptor and manifest members as the OCI Go structs declare them', () => {
    const manifest = {
      layers: [{ size: 3, digest: D2, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', annotations: { z: '1', a: '2' } }],
      config: { digest: D1, size: 2, mediaType: 'application/vnd.oci.image.config.v1+json' },
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      schemaVersion: 2,
    };
    expect(canonicalJsonString('manifest', manifest)).toBe(
      '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",' +
        `"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"${D1}","size":2},` +
        `"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"${D2}","size":3,"annotations":{"a":"2","z":"1"}}]}`,
    );
  });

  it('sorts the top level of a config (as BuildKit writes it) and keeps struct order inside', () => {
    const config = {
      rootfs: { diff_ids: [D1], type: 'layers' },
      os: 'linux',
      history: [{ empty_layer: true, comment: 'c', created_by: 'ENV A=1', created: '2024-01-01T00:00:00Z' }],
      config: {
        Shell: ['/bin/sh', '-c'],
        Cmd: ['sh'],
        Env: ['A=1'],
        Healthcheck: { Retries: 3, Test: ['CMD', 'true'], Interval: 1000 },
        User: 'app',
        Labels: { b: '2', a: '1' },
      },
      architecture: 'amd64',
      created: '2024-01-01T00:00:00Z',
    };
    expect(canonicalJsonString('config', config)).toBe(
      '{"architecture":"amd64",' +
        '"config":{"User":"app","Env":["A=1"],"Cmd":["sh"],"Labels":{"a":"1","b":"2"},' +
        '"Healthcheck":{"Test":["CMD","true"],"Interval":1000,"Retries":3},"Shell":["/bin/sh","-c"]},' +
        '"created":"2024-01-01T00:00:00Z",' +
        '"history":[{"created":"2024-01-01T00:00:00Z","created_by":"ENV A=1","comment":"c","empty_layer":true}],' +
        `"os":"linux","rootfs":{"type":"layers","diff_ids":["${D1}"]}}`,
    );
  });

  it("omits empty optional members like Go's omitempty, but keeps required ones", () => {
    const config = {
      architecture: 'amd64',
      os: 'linux',
      author: '',
      variant: null,
      config: { Env: [], Cmd: null, ArgsEscaped: false, WorkingDir: '' },
      rootfs: { type: 'layers', diff_ids: [] },
      history: [],
    };
    expect(canonicalJsonString('config', config)).toBe(
      '{"architecture":"amd64","config":{},"os":"linux","rootfs":{"type":"layers","diff_ids":[]}}',
    );
    expect(canonicalJsonString('history', { empty_layer: false, created_by: '' })).toBe('{}');
    expect(canonicalJsonString('descriptor', { mediaType: '', digest: D1, size: 0 })).toBe(
      `{"mediaType":"","digest":"${D1}","size":0}`,
    );
  });

  it('keeps unknown members, after known ones in structs and sorted in the config top level', () => {
    expect(canonicalJsonString('history', { zeta: { b: 1, a: [true, null] }, created_by: 'x', alpha: 0 })).toBe(
      '{"created_by":"x","alpha":0,"zeta":{"a":[true,null],"b":1}}',
    );
    const config = { 'moby.buildkit.cache.v0': 'abc', os: 'linux', architecture: 'arm64', rootfs: { type: 'layers', diff_ids: [] } };
    expect(canonicalJsonString('config', config)).toBe(
      '{"architecture":"arm64","moby.buildkit.cache.v0":"abc","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}',
    );
  });

  it('escapes strings as Go does (HTML-safe, U+2028/2029, lone surrogates)', () => {
    expect(canonicalJsonString('generic', '<a href="x">&</a>')).toBe('"\\u003ca href=\\"x\\"\\u003e\\u0026\\u003c/a\\u003e"');
    expect(canonicalJsonString('generic', '\u2028\u2029\n\t\u0001')).toBe('"\\u2028\\u2029\\n\\t\\u0001"');
    expect(canonicalJsonString('generic', 'a\ud800b')).toBe('"a\ufffdb"');
    expect(canonicalJsonString('generic', '😀é')).toBe('"😀é"');
  });

  it('sorts map keys by UTF-8 bytes, not UTF-16 code units', () => {
    // UTF-16 puts 😀 (D83D …) before ～ (FF5E); UTF-8, like Go's map ordering, puts ～ (EF BD 9E) before 😀 (F0 9F 98 80).
    expect(canonicalJsonString('generic', { '😀': 1, '～': 2 })).toBe('{"～":2,"😀":1}');
  });

  it('refuses values JSON cannot carry', () => {
    expect(() => canonicalJsonString('generic', { a: Number.NaN })).toThrow(InvalidImageError);
    expect(() => canonicalJsonString('generic', { a: () => 1 })).toThrow(InvalidImageError);
  });

  const jsonValue = fc.jsonValue({ maxDepth: 3 });
  const configArb = fc.record(
    {
      architecture: fc.constantFrom('amd64', 'arm64'),
      os: fc.constant('linux'),
      created: fc.option(fc.constant('2024-05-01T12:00:00Z'), { nil: undefined }),
      author: fc.option(fc.string(), { nil: undefined }),
      config: fc.record(
        {
          Env: fc.array(fc.string()),
          Cmd: fc.array(fc.string()),
          Labels: fc.dictionary(fc.string(), fc.string()),
          ExposedPorts: fc.dictionary(fc.constantFrom('80/tcp', '53/udp', '8080/tcp'), fc.constant({})),
          WorkingDir: fc.string(),
          X_unknown: jsonValue,
        },
        { requiredKeys: [] },
      ),
      rootfs: fc.record({ type: fc.constant('layers'), diff_ids: fc.array(fc.constantFrom(D1, D2)) }),
      history: fc.array(fc.record({ created_by: fc.string(), empty_layer: fc.boolean(), extra: jsonValue }, { requiredKeys: [] })),
      extra_top: jsonValue,
    },
    { requiredKeys: ['architecture', 'os', 'rootfs'] },
  );

  it('property: bytes do not depend on member insertion order', () => {
    fc.assert(
      fc.property(configArb, fc.integer(), (config, seed) => {
        expect(canonicalJsonString('config', shuffleKeys(config, seed))).toBe(canonicalJsonString('config', config));
      }),
    );
  });

  it('property: canonical form is a fixed point of parse∘encode and has no insignificant whitespace', () => {
    fc.assert(
      fc.property(configArb, (config) => {
        const once = canonicalJsonString('config', config);
        const twice = canonicalJsonString('config', parseImageConfig(once));
        expect(twice).toBe(once);
        expect(once.replace(/"(?:[^"\\]|\\.)*"/g, '""')).not.toMatch(/\s/);
        expect(parseImageConfig(once)).toEqual(JSON.parse(once));
      }),
    );
  });
});

describe('parsers', () => {
  it('parseManifest accepts null layers (moby#47065) and rejects other schema versions', () => {
    const m = parseManifest(`{"schemaVersion":2,"config":{"mediaType":"x","digest":"${D1}","size":1},"layers":null}`);
    expect(m.layers).toEqual([]);
    expect(() => parseManifest(`{"schemaVersion":1}`)).toThrow(InvalidImageError);
    expect(() => parseManifest('not json')).toThrow(InvalidImageError);
    expect(() => parseManifest(`{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:zz","size":1},"layers":[]}`)).toThrow(/digest/);
    expect(() => parseManifest(`{"schemaVersion":2,"config":{"mediaType":"x","digest":"${D1}","size":-1},"layers":[]}`)).toThrow(/size/);
  });

  it('parseIndex accepts null manifests (moby#47210)', () => {
    expect(parseIndex('{"schemaVersion":2,"manifests":null}').manifests).toEqual([]);
  });

  it('parseImageConfig: null optional members are absent, unknown kept, rootfs.type must be layers', () => {
    const c = parseImageConfig(`{"architecture":"amd64","os":"linux","author":null,"x":1,"config":{"Env":null},"rootfs":{"type":"layers","diff_ids":null}}`);
    expect(c).toEqual({ architecture: 'amd64', os: 'linux', x: 1, config: {}, rootfs: { type: 'layers', diff_ids: [] } });
    const err = (() => {
      try {
        parseImageConfig('{"architecture":"amd64","os":"linux","rootfs":{"type":"zfs","diff_ids":[]}}');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(InvalidImageError);
    expect((err as InvalidImageError).code).toBe('INVALID_IMAGE');
    expect(() => parseImageConfig('{"architecture":"amd64","os":"linux"}')).toThrow(/rootfs/);
    expect(() => parseImageConfig('{"os":"linux","rootfs":{"type":"layers","diff_ids":["nope"]}}')).toThrow(InvalidImageError);
    expect(() => parseImageConfig('{"os":"linux","rootfs":{"type":"layers"},"config":{"Env":"A=1"}}')).toThrow(/Env/);
  });

  it('formatTimestamp writes RFC 3339 as Go does', () => {
    expect(formatTimestamp(new Date(0))).toBe('1970-01-01T00:00:00Z');
    expect(formatTimestamp(new Date(Date.UTC(2024, 4, 1, 12, 0, 0, 500)))).toBe('2024-05-01T12:00:00.5Z');
    expect(formatTimestamp(new Date(Date.UTC(2024, 4, 1, 12, 0, 0, 120)))).toBe('2024-05-01T12:00:00.12Z');
    expect(() => formatTimestamp(new Date('nope'))).toThrow(InvalidImageError);
  });
});
