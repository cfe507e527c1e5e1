/**
 * Shared helpers of the builder tests: contexts written from a file map,
 * builds into fresh stores, the resulting file system as a tree, and the
 * layers of an image read back as tar members.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect } from 'vitest';
import { build } from '../../src/builder/build.js';
import { canUseSandbox, probeSandbox } from '../../src/sandbox/probe.js';
import { removeTree } from '../../src/sandbox/files.js';
import type { BuildOptions, BuildResult } from '../../src/builder/options.js';
import type { Image } from '../../src/image/image.js';
import { ImageStore } from '../../src/image/store/store.js';
import { flatten } from '../../src/layers/changes/squash.js';
import type { Entry } from '../../src/layers/entry.js';
import type { Layer } from '../../src/layers/layer.js';
import { readTar } from '../../src/layers/tar/read.js';
import type { Tree } from '../../src/layers/tree.js';
import { validateImage } from '../../src/testing/image.js';

export const exec = promisify(execFile);

const dirs: string[] = [];
afterAll(async () => {
  // Trees a user namespace left unwritable (mode 0500 directories of a layer, files of subordinate ids) included.
  await Promise.all(dirs.map((d) => removeTree(d)));
});

/** A fresh temporary directory, removed after the file's tests. */
export async function tempDir(prefix = 'layerkit-build-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** What a context file is: text, or an object with mode/mtime/symlink. */
export type FileSpec = string | { content?: string | Uint8Array; mode?: number; mtime?: number; symlink?: string; dir?: boolean };

/** Fixed mtime of context files unless a spec says otherwise (2021-01-01). */
export const CONTEXT_MTIME = 1609459200;

/** Writes a context directory from a map of relative paths. */
export async function writeContext(files: Record<string, FileSpec>, dir?: string): Promise<string> {
  const root = dir ?? (await tempDir('layerkit-ctx-'));
  const times: Array<[string, number]> = [];
  for (const [rel, spec] of Object.entries(files)) {
    const path = join(root, rel);
    await mkdir(dirname(path), { recursive: true });
    const s = typeof spec === 'string' ? { content: spec } : spec;
    if (s.symlink !== undefined) {
      await symlink(s.symlink, path);
      continue;
    }
    if (s.dir) await mkdir(path, { recursive: true });
    else await writeFile(path, s.content ?? '');
    if (s.mode !== undefined) await chmod(path, s.mode);
    times.push([path, s.mtime ?? CONTEXT_MTIME]);
  }
  // Directories first touched by their children: set every time last, deepest first.
  for (const [path, time] of times.reverse()) await utimes(path, time, time);
  return root;
}

/** A fresh store in a temporary directory. */
export async function freshStore(): Promise<ImageStore> {
  return new ImageStore(await tempDir('layerkit-store-'));
}

/** Builds `dockerfile` over a context written from `files`, into a fresh store; the image must validate. */
export async function buildText(
  dockerfile: string | undefined,
  files: Record<string, FileSpec> = {},
  options: BuildOptions = {},
): Promise<BuildResult & { store: ImageStore; context: string }> {
  const context = options.context ?? (await writeContext(files));
  const store = options.store instanceof ImageStore ? options.store : await freshStore();
  const result = await build({ sourceDateEpoch: 1700000000, xattrs: false, ...options, context, store, ...(dockerfile === undefined ? {} : { dockerfileText: dockerfile }) });
  await expectValid(result.image);
  return { ...result, store, context };
}

/** Asserts that an image passes validateImage. */
export async function expectValid(image: Image): Promise<void> {
  const report = await validateImage(image);
  expect(report.problems).toEqual([]);
}

/** The image's root file system. */
export async function rootfs(image: Image): Promise<Tree> {
  return flatten(await image.layers());
}

/** The members of one layer: entry metadata and file contents as text. */
export async function layerMembers(layer: Layer): Promise<Array<Entry & { text?: string }>> {
  const out: Array<Entry & { text?: string }> = [];
  for await (const { entry, body } of readTar(layer.uncompressed())) {
    const chunks: Uint8Array[] = [];
    for await (const chunk of body) chunks.push(chunk);
    const member: Entry & { text?: string } = { ...entry };
    if (entry.type === 'file') member.text = Buffer.concat(chunks).toString('utf8');
    out.push(member);
  }
  return out;
}

/** Paths of one layer, in tar order. */
export async function layerPaths(layer: Layer): Promise<string[]> {
  return (await layerMembers(layer)).map((m) => m.path);
}

/** A file's content in a tree, as text. */
export async function readText(tree: Tree, path: string): Promise<string | undefined> {
  const entry = tree.get(path);
  if (!entry || entry.type !== 'file') return undefined;
  const chunks: Uint8Array[] = [];
  for await (const chunk of entry.content?.open() ?? []) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** Summary of a tree: path → `type mode uid:gid [→ target]`, the root excluded. */
export function treeSummary(tree: Tree): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of tree.entries()) {
    if (e.path === '/') continue;
    const link = e.type === 'symlink' || e.type === 'hardlink' ? ` -> ${e.linkname}` : '';
    out[e.path] = `${e.type} ${e.mode.toString(8).padStart(4, '0')} ${e.uid}:${e.gid}${link}`;
  }
  return out;
}

/** The path of an executable on PATH, or undefined. */
export async function which(tool: string): Promise<string | undefined> {
  try {
    const { stdout } = await exec('sh', ['-c', `command -v ${tool}`]);
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Whether an interop tool is there; under CI a missing tool fails the suite. */
export async function requireTool(tool: string): Promise<boolean> {
  const found = await which(tool);
  if (!found) {
    if (process.env.CI) throw new Error(`${tool} missing (required under CI)`);
    console.warn(`skipping: ${tool} is not installed`);
    return false;
  }
  return true;
}

/** The mount points this process sees, sorted: compared before and after to show nothing leaked. */
export async function mountTable(): Promise<string[]> {
  return (await readFile('/proc/self/mountinfo', 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' ')[4]!)
    .sort();
}

/** Host pids whose command line contains `marker`. */
export async function processesWith(marker: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0').join(' ').includes(marker)) found.push(Number(name));
  }
  return found;
}

/**
 * Whether the RUN sandbox and Debian's busybox-static (the tests' base
 * image) are here, and the overlay fast path when `overlay` is asked. When
 * not, says why and lets the caller skip — except under `CI=true`, where it
 * throws: CI must run every test.
 */
export async function sandboxReady(suite: string, options: { overlay?: boolean } = {}): Promise<boolean> {
  const reasons: string[] = [];
  if (!existsSync('/bin/busybox')) reasons.push('/bin/busybox missing (Debian package busybox-static)');
  const probe = await probeSandbox();
  if (!(await canUseSandbox())) reasons.push(`no sandbox: ${probe.reason}`);
  else if (options.overlay && !probe.overlay) reasons.push('overlayfs is not available');
  if (reasons.length === 0) return true;
  if (process.env.CI) throw new Error(reasons.join('; '));
  console.warn(`skipping ${suite}: ${reasons.join('; ')}`);
  return false;
}
