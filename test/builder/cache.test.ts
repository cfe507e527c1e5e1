/**
 * The builder's side of the build cache (src/builder/cache/ has the cache's
 * own tests): every step goes through lookup/replay/record, results report
 * `cached`, and the report comes back with the result.
 */
import { describe, expect, it } from 'vitest';
import type { BuildEvent } from '../../src/builder/events.js';
import { buildText, freshStore, writeContext } from './helpers.js';

const dockerfile = 'FROM scratch\nWORKDIR /app\nCOPY src /app/src\nCOPY conf.txt /etc/\nENV A=1\nRUN touch /ran\n';
const files = { 'src/a.js': 'a', 'src/b.js': 'b', 'conf.txt': 'c' };
const run = async (_step: unknown, fs: { writeFile(p: string, d: string): Promise<void> }) => fs.writeFile('/ran', 'yes');

describe('build cache through build()', () => {
  it('a second build replays every step (events and steps say so) and gives the same image', async () => {
    const store = await freshStore();
    const context = await writeContext(files);
    const first = await buildText(dockerfile, {}, { store, context, run, runCacheKey: 'v1' });
    expect(first.steps.map((s) => s.cached)).toEqual([false, false, false, false, false]);
    expect(first.cache).toMatchObject({ hits: 0, misses: 5 });
    const events: BuildEvent[] = [];
    const second = await buildText(dockerfile, {}, { store, context, run, runCacheKey: 'v1', onEvent: (e) => events.push(e) });
    expect(second.steps.map((s) => s.cached)).toEqual([true, true, true, true, true]);
    expect(second.cache).toMatchObject({ hits: 5, misses: 0 });
    expect(events.flatMap((e) => (e.type === 'step-end' ? [e.cached] : []))).toEqual([true, true, true, true, true]);
    expect(second.steps.map((s) => s.layer)).toEqual(first.steps.map((s) => s.layer));
    expect(second.digest).toBe(first.digest);
    expect((await second.image.config()).history).toEqual((await first.image.config()).history);
  });

  it('noCache runs every step', async () => {
    const store = await freshStore();
    const context = await writeContext(files);
    await buildText(dockerfile, {}, { store, context, run, runCacheKey: 'v1' });
    const again = await buildText(dockerfile, {}, { store, context, run, runCacheKey: 'v1', noCache: true });
    expect(again.steps.some((s) => s.cached)).toBe(false);
  });
});
