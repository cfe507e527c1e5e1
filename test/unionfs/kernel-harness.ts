/**
 * Runs an operation sequence on a real kernel overlayfs mount, as Docker
 * builds one: each layer extracted to its own lowerdir (whiteouts as 0/0
 * character devices, opaque directories with `user.overlay.opaque`), an
 * empty upperdir, mounted in an unprivileged user+mount namespace. A Node
 * child runs the operations chrooted into the mount (absolute symlinks and
 * `..` then resolve as in a container), with the same op runner the tests
 * use, and reports every outcome and the tree after every step.
 */
import { execFile } from 'node:child_process';
import { realpathSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import type { Entry } from '../../src/layers/entry.js';
import type { Observation, UnionOp, UnionOpOutcome } from '../../src/testing/unionfs.js';
import { removeDir, tempDir, which, writeEntries } from './helpers.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** What the kernel did: the tree before any operation, then outcome and tree per operation. */
export interface KernelRun {
  initial: Observation;
  steps: { outcome: UnionOpOutcome; observation: Observation }[];
}

/** Host directories bound into the chroot so Node runs there; their names are left out of observations. */
function bindDirs(): string[] {
  const dirs = ['/usr', '/lib', '/lib64', '/etc', '/dev', '/proc'];
  const nodeDir = dirname(realpathSync(process.execPath));
  if (!dirs.some((d) => nodeDir === d || nodeDir.startsWith(d + '/'))) dirs.push(nodeDir);
  return dirs;
}

/** Top-level names the harness creates in the mount (mount points), which the view must also have. */
export function harnessNames(): string[] {
  return [...new Set([...bindDirs().map((d) => d.split('/')[1]!), 'h'])].sort();
}

const CHILD = `
import { readFileSync, writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { hostFs, observeFs, runUnionOp } from './unionfs.mjs';
process.umask(0o022);
const { ops, exclude } = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const skip = new Set(exclude);
const fs = hostFs('/', fsp);
const observe = { exclude: (p) => skip.has(p), linkGroups: false };
const initial = await observeFs(fs, observe);
const steps = [];
for (const op of ops) {
  const outcome = await runUnionOp(fs, op);
  steps.push({ outcome, observation: await observeFs(fs, observe) });
}
writeFileSync(process.argv[3], JSON.stringify({ initial, steps }));
`;

/** A prepared harness: the child script and the transpiled test kit, in one directory bound at /h. */
export class KernelHarness {
  private constructor(readonly dir: string) {}

  /** Probes the kernel and tools; returns the harness or the reason it cannot run. */
  static async create(): Promise<KernelHarness | string> {
    if (process.platform !== 'linux') return 'not Linux';
    for (const tool of ['unshare', 'mount', 'chroot', 'mknod', 'setfattr']) {
      if (!(await which(tool))) return `${tool} not installed`;
    }
    const dir = await tempDir('unionfs-kernel-');
    await fsp.chmod(dir, 0o755);
    const source = await fsp.readFile(join(repo, 'src/testing/unionfs.ts'), 'utf8');
    const js = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    }).outputText.replace(
      /^import fc from 'fast-check';$/m,
      // The child only runs operations and observes; the arbitraries (and fast-check's load time) stay out.
      'const fc = undefined;',
    );
    await fsp.writeFile(join(dir, 'unionfs.mjs'), js);
    await fsp.writeFile(join(dir, 'child.mjs'), CHILD);
    const harness = new KernelHarness(dir);
    try {
      await harness.run([[]], []);
    } catch (err) {
      await removeDir(dir);
      return `unprivileged overlay mount failed: ${(err as Error).message.split('\n').slice(0, 3).join(' ')}`;
    }
    return harness;
  }

  async dispose(): Promise<void> {
    await removeDir(this.dir);
  }

  /** Mounts `layers` (bottom first), runs `ops` chrooted in the mount, returns what happened. */
  async run(layers: readonly (readonly Entry[])[], ops: readonly UnionOp[]): Promise<KernelRun> {
    const work = await tempDir('unionfs-case-');
    try {
      const q = (p: string) => `'${p.replaceAll("'", `'\\''`)}'`;
      const lines = ['set -e', 'umask 022'];
      const lowers: string[] = [];
      for (const [i, layer] of layers.entries()) {
        const dir = join(work, `l${i}`);
        await fsp.mkdir(dir);
        await writeEntries(layer, dir);
        lowers.unshift(dir);
        for (const entry of layer) {
          const slash = entry.path.lastIndexOf('/');
          const name = entry.path.slice(slash + 1);
          const parent = join(dir, entry.path.slice(0, slash));
          if (name === '.wh..wh..opq') {
            lines.push(`rm ${q(join(parent, name))}`, `setfattr -n user.overlay.opaque -v y ${q(parent)}`);
          } else if (name.startsWith('.wh.')) {
            lines.push(`rm ${q(join(parent, name))}`, `mknod ${q(join(parent, name.slice(4)))} c 0 0`);
          }
        }
      }
      if (lowers.length === 0) {
        lowers.push(join(work, 'l0'));
        await fsp.mkdir(lowers[0]!);
      }
      for (const d of ['u', 'w', 'm']) await fsp.mkdir(join(work, d), { mode: 0o755 });
      await fsp.chmod(join(work, 'u'), 0o755);
      const m = join(work, 'm');
      await fsp.writeFile(join(this.dir, 'case.json'), JSON.stringify({ ops, exclude: harnessNames().map((n) => '/' + n) }));
      lines.push(
        `mount -t overlay overlay -o userxattr,lowerdir=${lowers.join(':')},upperdir=${join(work, 'u')},workdir=${join(work, 'w')} ${m}`,
      );
      for (const d of bindDirs()) lines.push(`mkdir -p ${q(m + d)}`, `mount --rbind ${q(d)} ${q(m + d)}`);
      lines.push(`mkdir -p ${m}/h`, `mount --bind ${q(this.dir)} ${m}/h`);
      lines.push(`chroot ${m} ${q(realpathSync(process.execPath))} /h/child.mjs /h/case.json /h/out.json`);
      const script = join(work, 'run.sh');
      await fsp.writeFile(script, lines.join('\n') + '\n');
      await new Promise<void>((done, fail) => {
        execFile('unshare', ['--user', '--map-root-user', '--mount', 'sh', script], { timeout: 60_000 }, (err, _out, stderr) =>
          err ? fail(new Error(`${err.message}\n${stderr}`)) : done(),
        );
      });
      return JSON.parse(await fsp.readFile(join(this.dir, 'out.json'), 'utf8')) as KernelRun;
    } finally {
      await removeDir(work);
    }
  }
}
