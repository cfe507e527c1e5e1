import { describe, expect, it } from 'vitest';
import { BuildError } from '../../src/builder/errors.js';
import type { RunStep } from '../../src/sandbox/executor.js';
import { buildText, freshStore, writeContext } from './helpers.js';

/**
 * BuildKit's entitlements: a RUN that asks for more than a sandbox gives
 * (`--network=host`, `--security=insecure`) runs only when the build was
 * granted it, and a cached step is refused like one that would run.
 */
describe('RUN entitlements', () => {
  const dockerfile = 'FROM scratch\nRUN --security=insecure make-device\n';

  it('RUN --security=insecure is refused without security.insecure, before the executor sees it', async () => {
    const seen: RunStep[] = [];
    const err = await buildText(dockerfile, {}, { run: (step) => void seen.push(step) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BuildError);
    expect((err as BuildError).code).toBe('ENTITLEMENT_REQUIRED');
    expect((err as BuildError).message).toContain('security.insecure is not allowed');
    expect((err as BuildError).data).toMatchObject({ line: 2, reason: 'security.insecure not allowed' });
    expect(seen).toEqual([]);
  });

  it('runs with allow: [security.insecure], the step asking for insecure security', async () => {
    const seen: RunStep[] = [];
    await buildText(dockerfile, {}, { run: (step) => void seen.push(step), allow: ['security.insecure'] });
    expect(seen.map((s) => s.security)).toEqual(['insecure']);
  });

  it('network.host does not grant security.insecure, nor the reverse', async () => {
    const insecure = await buildText(dockerfile, {}, { run: () => undefined, allow: ['network.host'] }).catch((e: unknown) => e);
    expect((insecure as BuildError).code).toBe('ENTITLEMENT_REQUIRED');
    const host = await buildText('FROM scratch\nRUN --network=host true\n', {}, { run: () => undefined, allow: ['security.insecure'] }).catch((e: unknown) => e);
    expect((host as BuildError).code).toBe('ENTITLEMENT_REQUIRED');
    expect((host as BuildError).message).toContain('network.host');
  });

  it('a step the cache holds is refused too', async () => {
    const store = await freshStore();
    const context = await writeContext({});
    const options = { store, context, run: () => undefined, runCacheKey: 'entitlements/1' };
    const allowed = await buildText(dockerfile, {}, { ...options, allow: ['security.insecure'] });
    expect(allowed.steps.map((s) => s.cached)).toEqual([false]);
    const again = await buildText(dockerfile, {}, { ...options, allow: ['security.insecure'] });
    expect(again.steps.map((s) => s.cached)).toEqual([true]);
    const refused = await buildText(dockerfile, {}, options).catch((e: unknown) => e);
    expect((refused as BuildError).code).toBe('ENTITLEMENT_REQUIRED');
  });
});
