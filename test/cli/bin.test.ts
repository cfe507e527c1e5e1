/**
 * The installed program: `npx layerkit` runs package.json's bin directly,
 * so the built file must exist and be executable (npm ci builds it).
 */
import { execFile } from 'node:child_process';
import { access, constants, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');

describe('the layerkit program', () => {
  it('is built executable and answers --version', async (t) => {
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string> };
    const bin = join(root, pkg.bin['layerkit']!);
    const built = await access(bin).then(() => true, () => false);
    if (!built) {
      if (process.env.CI) throw new Error(`${bin} missing: npm ci builds it`);
      console.warn(`skipping: ${bin} not built (npm run build)`);
      return t.skip();
    }
    await access(bin, constants.X_OK);
    const { stdout } = await promisify(execFile)(bin, ['--version']);
    expect(stdout).toBe(`layerkit ${pkg.version}\n`);
  });
});
