/**
 * The README's quick start is what a new user runs first: exactly two
 * commands, the first building the example into the default store with the
 * checkout's own CLI, the second the test suite. Each names only scripts and
 * files this checkout has.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string> };

describe('the README quick start', () => {
  const section = /^## Quick start\n\n```sh\n([^`]*)```\n/m.exec(readme);

  it('is one sh block of two commands', () => {
    expect(section).not.toBeNull();
    const commands = section![1]!.trimEnd().split('\n');
    expect(commands).toHaveLength(2);
    expect(commands[1]).toBe('npm test');
  });

  it('installs, builds dist/, builds the example into the default store and lists it, with the checkout\'s CLI', () => {
    const steps = section![1]!.split('\n')[0]!.split(' && ');
    expect(steps[0]).toBe('npm ci');
    const cli = `node ${pkg.bin['layerkit']}`;
    for (const step of steps.slice(1)) {
      const script = /^npm run (\S+)$/.exec(step);
      if (script) expect(pkg.scripts[script[1]!], step).toBeDefined();
      else expect(step.startsWith(`${cli} `), step).toBe(true);
    }
    expect(steps).toContain(`${cli} build -t hello examples/hello`);
    expect(steps.at(-1)).toBe(`${cli} images`);
    expect(steps.join(' ')).not.toMatch(/--store|LAYERKIT_HOME|npx/);
    expect(steps.indexOf('npm run build')).toBeLessThan(steps.findIndex((s) => s.startsWith(cli)));
    expect(existsSync(join(root, 'examples/hello/Dockerfile'))).toBe(true);
  });
});
