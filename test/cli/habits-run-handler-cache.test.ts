/**
 * A RUN served by a JavaScript handler is cached only under the caller's
 * `runCacheKey`: editing the handler without changing the key cannot be
 * seen, so without a key nothing is reused, and a new key misses.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { rm } from 'node:fs/promises';
import type { RunHandler } from '../../src/sandbox/executor.js';
import { ImageStore } from '../../src/image/store/store.js';
import { buildText, freshStore, readText, rootfs } from '../builder/helpers.js';

const DOCKERFILE = 'FROM scratch\nCOPY a.txt /a.txt\nRUN make-greeting\nCOPY b.txt /b.txt\n';
const FILES = { 'a.txt': 'a\n', 'b.txt': 'b\n' };

function greeting(text: string): RunHandler {
  return async (_step, fs) => {
    await fs.writeFile('/greeting', text);
  };
}

const stores: ImageStore[] = [];

afterAll(async () => {
  for (const s of stores) await rm(s.root, { recursive: true, force: true });
});

async function store(): Promise<ImageStore> {
  const s = await freshStore();
  stores.push(s);
  return s;
}

async function greetingOf(result: Awaited<ReturnType<typeof buildText>>): Promise<string | undefined> {
  return readText(await rootfs(result.image), '/greeting');
}

describe('RUN steps of a run handler', () => {
  it('are not cached without runCacheKey: an edited handler takes effect', async () => {
    const s = await store();
    const first = await buildText(DOCKERFILE, FILES, { store: s, run: greeting('hello') });
    expect(await greetingOf(first)).toBe('hello');
    const edited = await buildText(DOCKERFILE, FILES, { store: s, run: greeting('bonjour') });
    expect(await greetingOf(edited)).toBe('bonjour');
    // The COPY before the RUN still hits; the RUN and the rest of its stage run.
    expect(edited.steps.map((x) => x.cached)).toEqual([true, false, false]);
  });

  it('are cached under runCacheKey and run again when it changes', async () => {
    const s = await store();
    await buildText(DOCKERFILE, FILES, { store: s, run: greeting('hello'), runCacheKey: 'greeting/1' });
    const again = await buildText(DOCKERFILE, FILES, { store: s, run: greeting('hello'), runCacheKey: 'greeting/1' });
    expect(again.steps.map((x) => x.cached)).toEqual([true, true, true]);
    const bumped = await buildText(DOCKERFILE, FILES, { store: s, run: greeting('bonjour'), runCacheKey: 'greeting/2' });
    expect(bumped.steps.map((x) => x.cached)).toEqual([true, false, false]);
    expect(await greetingOf(bumped)).toBe('bonjour');
  });

  it('a key recorded with one runCacheKey is not served to a build without one', async () => {
    const s = await store();
    await buildText(DOCKERFILE, FILES, { store: s, run: greeting('hello'), runCacheKey: 'greeting/1' });
    const unkeyed = await buildText(DOCKERFILE, FILES, { store: s, run: greeting('hi') });
    expect(await greetingOf(unkeyed)).toBe('hi');
  });
});
