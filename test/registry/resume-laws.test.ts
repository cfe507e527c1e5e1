/**
 * Laws of fetchBlob, against an in-memory registry behind an injected fetch:
 * whatever the points where the connection breaks, and whether or not the
 * server honours Range, the bytes delivered are exactly the blob's; any
 * wrong byte is a DIGEST_MISMATCH.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Digest } from '../../src/digest.js';
import { RegistryClient, RegistryError } from '../../src/registry/index.js';

interface Behaviour {
  /** Byte counts after which each successive response breaks. */
  cuts: number[];
  /** Answer a Range request with the whole blob (200), as some servers do. */
  ignoreRange: boolean;
  /** Flip the byte at this offset in every response. */
  corruptAt?: number;
}

function fakeRegistry(blob: Uint8Array, behaviour: Behaviour): { fetch: typeof fetch; ranges: Array<string | null> } {
  const ranges: Array<string | null> = [];
  const cuts = [...behaviour.cuts];
  const impl = async (url: string, init: { method?: string; headers?: Record<string, string> }) => {
    const path = new URL(url).pathname;
    if (path === '/v2/') return new Response(null, { status: 200 });
    const range = init.headers?.range ?? null;
    ranges.push(range);
    const start = range && !behaviour.ignoreRange ? Number(/bytes=(\d+)-/.exec(range)![1]) : 0;
    const body = Uint8Array.from(blob.subarray(start));
    if (behaviour.corruptAt !== undefined && behaviour.corruptAt >= start && behaviour.corruptAt < blob.length) body[behaviour.corruptAt - start]! ^= 0xff;
    const cut = cuts.shift();
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        const upTo = cut === undefined ? body.length : Math.min(cut, body.length);
        // Several chunks, as a socket delivers them.
        for (let i = 0; i < upTo; i += 97) controller.enqueue(body.subarray(i, Math.min(upTo, i + 97)));
        if (cut === undefined) controller.close();
        else controller.error(Object.assign(new TypeError('terminated'), { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) }));
      },
    });
    const headers: Record<string, string> = { 'content-length': String(body.length) };
    if (range && !behaviour.ignoreRange) headers['content-range'] = `bytes ${start}-${blob.length - 1}/${blob.length}`;
    return new Response(stream, { status: range && !behaviour.ignoreRange ? 206 : 200, headers });
  };
  return { fetch: impl as unknown as typeof fetch, ranges };
}

async function collect(client: RegistryClient, digest: Digest, size: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of client.fetchBlob('127.0.0.1:1/laws/blob', digest, { size })) parts.push(chunk);
  return Buffer.concat(parts);
}

const digestOf = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;

describe('fetchBlob', () => {
  it('delivers exactly the blob whatever the breaks, with or without Range support (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 3000 }), fc.array(fc.nat(3000), { maxLength: 3 }), fc.boolean(), async (blob, cuts, ignoreRange) => {
        const server = fakeRegistry(blob, { cuts, ignoreRange });
        const client = new RegistryClient({ fetch: server.fetch, retries: cuts.length, maxRetryDelayMs: 1 });
        const got = await collect(client, digestOf(blob), blob.length);
        expect(Buffer.compare(Buffer.from(got), Buffer.from(blob))).toBe(0);
        // The first request asks for everything; each later one resumes at or after where the last stopped.
        expect(server.ranges[0]).toBeNull();
        const starts = server.ranges.map((r) => (r === null ? 0 : Number(/^bytes=(\d+)-$/.exec(r)![1])));
        expect([...starts].sort((a, b) => a - b)).toEqual(starts);
        expect(server.ranges.length).toBeLessThanOrEqual(cuts.length + 1);
      }),
      { numRuns: 80 },
    );
  });

  it('rejects any wrong byte, wherever it is and however the transfer broke (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 1, maxLength: 2000 }).chain((blob) => fc.tuple(fc.constant(blob), fc.nat(blob.length - 1), fc.array(fc.nat(2000), { maxLength: 2 }))),
        async ([blob, corruptAt, cuts]) => {
          const server = fakeRegistry(blob, { cuts, ignoreRange: false, corruptAt });
          const client = new RegistryClient({ fetch: server.fetch, retries: cuts.length, maxRetryDelayMs: 1 });
          const err = await collect(client, digestOf(blob), blob.length).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(err).toBeInstanceOf(RegistryError);
          expect((err as RegistryError).code).toBe('DIGEST_MISMATCH');
        },
      ),
      { numRuns: 60 },
    );
  });

  it('gives up after its retries with a clean UNREACHABLE that says how far it got', async () => {
    const blob = new Uint8Array(1000).fill(7);
    const server = fakeRegistry(blob, { cuts: [100, 100, 100], ignoreRange: false });
    const err = await collect(new RegistryClient({ fetch: server.fetch, retries: 2, maxRetryDelayMs: 1 }), digestOf(blob), blob.length).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).code).toBe('UNREACHABLE');
    expect((err as RegistryError).data.attempts).toBe(3);
  });
});
