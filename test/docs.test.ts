/**
 * The docs' examples import from the package's entry points: every value
 * they name must be exported there, or a reader's first copy-paste fails.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as main from '../src/index.js';
import * as testing from '../src/testing/index.js';
import * as dockerfile from '../src/dockerfile/index.js';

const root = join(import.meta.dirname, '..');
const entryPoints: Record<string, Record<string, unknown>> = { layerkit: main, 'layerkit/testing': testing, 'layerkit/dockerfile': dockerfile };

/** `[file, specifier, name]` for each value imported in a fenced example (type-only imports left out). */
async function documentedImports(): Promise<Array<[string, string, string]>> {
  const files = ['README.md', ...(await readdir(join(root, 'docs'))).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const found: Array<[string, string, string]> = [];
  for (const file of files) {
    const text = await readFile(join(root, file), 'utf8');
    for (const m of text.matchAll(/import\s+(type\s+)?\{([^}]*)\}\s+from\s+'(layerkit(?:\/testing|\/dockerfile)?)'/g)) {
      if (m[1]) continue;
      for (const part of m[2]!.split(',')) {
        const name = part.trim().split(/\s+as\s+/)[0]!.trim();
        if (name === '' || name.startsWith('type ')) continue;
        found.push([file, m[3]!, name]);
      }
    }
  }
  return found;
}

describe('documentation', () => {
  it('imports only names the entry points export', async () => {
    const imports = await documentedImports();
    expect(imports.length).toBeGreaterThan(20);
    const missing = imports.filter(([, spec, name]) => !(name in entryPoints[spec]!)).map(([file, spec, name]) => `${file}: ${name} from '${spec}'`);
    expect(missing).toEqual([]);
  });
});
