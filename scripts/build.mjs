#!/usr/bin/env node
/**
 * Builds dist/: the TypeScript sources compiled by tsc (tsconfig.build.json),
 * the CLI made executable, and a CommonJS door per entry point for
 * `require()`. Run by `npm run build`, by `npm pack`/`npm publish` (prepack)
 * and before the tests (pretest).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
process.stderr.write('building dist/ (tsc -p tsconfig.build.json) …\n');

// A clean build: no files left from sources that are gone.
rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit', cwd: root });
if (r.status !== 0) process.exit(r.status ?? 1);

chmodSync(join(dist, 'cli/main.js'), 0o755);

/**
 * `require('layerkit')` loads the ES module graph synchronously where Node
 * can (≥ 20.19, ≥ 22.12: the graph has no top-level await); elsewhere Node's
 * own error would only say "not supported", so this says what to do.
 */
const door = (target, specifier) => `'use strict';
// CommonJS entry: require() of the ES module ${target} (Node >= 20.19 or >= 22.12).
try {
  module.exports = require(${JSON.stringify(target)});
} catch (err) {
  if (err && err.code === 'ERR_REQUIRE_ESM') {
    throw new Error(
      'layerkit is an ES module; require() of it needs Node >= 20.19 (or >= 22.12). ' +
        'On Node ' + process.versions.node + ' use import or await import(${JSON.stringify(specifier)}).',
      { cause: err },
    );
  }
  throw err;
}
`;
mkdirSync(join(dist, 'cjs'), { recursive: true });
for (const [name, specifier] of [['index', 'layerkit'], ['testing', 'layerkit/testing'], ['dockerfile', 'layerkit/dockerfile']]) {
  writeFileSync(join(dist, 'cjs', `${name}.cjs`), door(name === 'index' ? '../index.js' : `../${name}/index.js`, specifier));
}
