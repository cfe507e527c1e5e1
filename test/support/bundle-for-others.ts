/**
 * Code that another user runs (the rootless tests drop to `nobody`) cannot be
 * read from the checkout when the checkout sits in a directory only its owner
 * may enter (any clone under /root, any `mktemp -d`). So what that user runs
 * is bundled (the test's script, the sources it imports and their packages)
 * into one world-readable file beside the test's other world-readable files.
 */
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';

/**
 * Writes `source` (an ES module; imports may name sources by absolute path
 * and packages by name, resolved from this checkout) to `dir/name.mts` and
 * bundles it into `dir/name.mjs`, readable by everyone. Returns the bundle's
 * path: `node <path> …` runs it as any user, without a loader.
 *
 * @example
 * ```ts
 * const script = await bundleForOthers(dir, 'child', `import { build } from ${JSON.stringify(buildTs)}; …`);
 * spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, script]);
 * ```
 */
export async function bundleForOthers(dir: string, name: string, source: string): Promise<string> {
  const entry = join(dir, `${name}.mts`);
  const outfile = join(dir, `${name}.mjs`);
  await writeFile(entry, source);
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Packages written as CommonJS call require() for Node's built-ins.
    banner: { js: "import { createRequire as __layerkitRequire } from 'node:module'; const require = __layerkitRequire(import.meta.url);" },
    nodePaths: [join(import.meta.dirname, '../../node_modules')],
    logLevel: 'silent',
  });
  await chmod(outfile, 0o644);
  return outfile;
}
