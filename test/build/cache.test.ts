import { utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildText, freshStore, writeContext } from './helpers.js';

const dockerfile = 'FROM scratch\nWORKDIR /app\nCOPY src /app/src\nCOPY conf.txt /etc/\nENV A=1\n';
const files = { 'src/a.js': 'a', 'src/b.js': 'b', 'conf.txt': 'c' };

describe('build cache', () => {
  it('a second build reuses every COPY and WORKDIR layer and gives the same image', async () => {
    const store = await freshStore();
    const context = await writeContext(files);
    const first = await buildText(dockerfile, {}, { store, context });
    expect(first.steps.map((s) => s.cached)).toEqual([false, false, false, false]);
    const second = await buildText(dockerfile, {}, { store, context });
    expect(second.steps.map((s) => s.cached)).toEqual([true, true, true, false]);
    expect(second.steps.map((s) => s.layer)).toEqual(first.steps.map((s) => s.layer));
    expect(second.digest).toBe(first.digest);
  });

  it('a content change invalidates that step and the ones after it; an mtime change does not (checksums ignore times)', async () => {
    const store = await freshStore();
    const context = await writeContext(files);
    await buildText(dockerfile, {}, { store, context });
    await utimes(join(context, 'conf.txt'), 5, 5);
    const touched = await buildText(dockerfile, {}, { store, context });
    expect(touched.steps.map((s) => s.cached)).toEqual([true, true, true, false]);
    await writeFile(join(context, 'src/a.js'), 'changed');
    const changed = await buildText(dockerfile, {}, { store, context });
    expect(changed.steps.map((s) => s.cached)).toEqual([true, false, false, false]);
  });

  it('noCache runs every step; a different SOURCE_DATE_EPOCH misses', async () => {
    const store = await freshStore();
    const context = await writeContext(files);
    await buildText(dockerfile, {}, { store, context });
    const noCache = await buildText(dockerfile, {}, { store, context, noCache: true });
    expect(noCache.steps.some((s) => s.cached)).toBe(false);
    const epoch = await buildText(dockerfile, {}, { store, context, sourceDateEpoch: 42 });
    expect(epoch.steps.some((s) => s.cached)).toBe(false);
  });

  it('a failed build records nothing', async () => {
    const store = await freshStore();
    const context = await writeContext(files);
    await buildText('FROM scratch\nCOPY src /s\nCOPY missing /\n', {}, { store, context }).catch(() => undefined);
    const after = await buildText('FROM scratch\nCOPY src /s\n', {}, { store, context });
    expect(after.steps[0]!.cached).toBe(false);
  });
});
