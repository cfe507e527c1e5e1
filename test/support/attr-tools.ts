/**
 * layerkit reads and writes extended attributes through `getfattr` and
 * `setfattr` (Debian package `attr`): no native addon. Tests that need them
 * skip with the reason where they are missing, and fail under `CI=true`.
 */
import { spawnSync } from 'node:child_process';

/** Why `getfattr`/`setfattr` cannot be used here, or null when both run. */
export const attrMissing: string | null = (() => {
  const missing = ['getfattr', 'setfattr'].filter((tool) => spawnSync(tool, ['--version']).status !== 0);
  return missing.length === 0 ? null : `${missing.join(' and ')} not installed (Debian package attr)`;
})();

/**
 * Whether the tests of `what` can run: true when the attr tools are there;
 * otherwise false with a printed reason, or an error under `CI=true`.
 *
 * @example
 * ```ts
 * describe.runIf(attrTools('overlay upperdirs made by hand'))('overlay upperdirs made by hand', () => { … });
 * ```
 */
export function attrTools(what: string): boolean {
  if (attrMissing === null) return true;
  if (process.env.CI) throw new Error(`${what}: ${attrMissing}, required under CI`);
  console.warn(`skipping ${what}: ${attrMissing}`);
  return false;
}
