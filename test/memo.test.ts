import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { memoPromise } from '../src/memo.js';

describe('memoPromise', () => {
  it('makes one promise per key however many callers ask at once, and makes it again after a rejection', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.boolean()), { minLength: 1, maxLength: 30 }), async (asks) => {
        const memo = new Map<string, Promise<string>>();
        const made: string[] = [];
        // Each round: every ask at once; a key whose first ask says "fail" is rejected for the whole round.
        const round = async () => {
          const failing = new Map<string, boolean>();
          for (const [key, fail] of asks) if (!failing.has(key)) failing.set(key, fail);
          return Promise.allSettled(
            asks.map(([key]) =>
              memoPromise(memo, key, async () => {
                made.push(key);
                if (failing.get(key)) throw new Error(`no ${key}`);
                return key.toUpperCase();
              }),
            ),
          );
        };
        const first = await round();
        const keys = new Set(asks.map(([k]) => k));
        expect([...made].sort()).toEqual([...keys].sort());
        for (const [i, [key]] of asks.entries()) {
          const result = first[i]!;
          if (result.status === 'fulfilled') expect(result.value).toBe(key.toUpperCase());
        }
        made.length = 0;
        await round();
        // Only the keys that failed are made again; kept results are served from the memo.
        const failed = [...keys].filter((k) => asks.find(([key]) => key === k)![1]);
        expect([...made].sort()).toEqual(failed.sort());
      }),
    );
  });
});
