#!/usr/bin/env node
/**
 * Installs the Debian packages the tests use (scripts/debian-packages.txt)
 * that are missing, when it can: as root, where apt-get exists. It prints
 * one line when it installs something and nothing when all are there. Run
 * by `npm test` (pretest) and by .ci/run.
 *
 * As another user, or off Debian, it installs nothing and says which
 * packages are missing: the tests that need them skip with the reason
 * (under CI=true they fail).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const list = new URL('./debian-packages.txt', import.meta.url);
const packages = readFileSync(list, 'utf8')
  .split('\n')
  .map((line) => line.replace(/#.*/, '').trim())
  .filter((line) => line !== '');

if (process.argv.includes('--list')) {
  console.log(packages.join('\n'));
  process.exit(0);
}

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
if (process.platform !== 'linux' || !has('dpkg-query')) process.exit(0);

const missing = packages.filter((pkg) => {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return !(r.status === 0 && r.stdout.includes('install ok installed'));
});
if (missing.length === 0) process.exit(0);

const say = (text) => process.stderr.write(`layerkit tests: ${text}\n`);
if (process.getuid?.() !== 0 || !has('apt-get')) {
  say(`not installing missing Debian packages (needs root and apt-get): ${missing.join(' ')}; tests that need them will skip`);
  process.exit(0);
}

say(`installing missing Debian packages: ${missing.join(' ')} …`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
const apt = (args) => spawnSync('apt-get', args, { env, encoding: 'utf8', maxBuffer: 1 << 26 });
let r = apt(['update', '-qq']);
if (r.status === 0) r = apt(['install', '-y', '-qq', '--no-install-recommends', ...missing]);
if (r.status !== 0) {
  say(`apt-get failed (status ${r.status}):\n${(r.stderr || r.stdout || String(r.error ?? '')).trim().split('\n').slice(-10).join('\n')}`);
  // Without the tools the tests skip with reasons; under CI they are required.
  process.exit(process.env.CI ? 1 : 0);
}
