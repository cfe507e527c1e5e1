/**
 * Laws of the sandbox executor, over random sequences of file operations
 * run by busybox in the sandbox:
 *
 * 1. the layer records exactly what the command did: applying it to the
 *    stage's layers gives the tree the command saw at its end;
 * 2. the overlay and copy strategies make the same layer (same diffID).
 *
 * Each case runs two sandboxed steps; `LAYERKIT_PROPERTY_RUNS` runs more.
 */
import { statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RunContext, RunStep } from '../../src/sandbox/executor.js';
import { sandboxExecutor } from '../../src/sandbox/index.js';
import { flatten } from '../../src/layers/changes/squash.js';
import { bytesSource, type Entry } from '../../src/layers/entry.js';
import { fileSource } from '../../src/layers/from-directory.js';
import { layerFromEntries } from '../../src/layers/from-entries.js';
import type { Layer } from '../../src/layers/layer.js';
import { UnionFS } from '../../src/unionfs/union.js';
import { sandboxReady, tempDir } from './helpers.js';

const RUNS = Number(process.env.LAYERKIT_PROPERTY_RUNS ?? 4);
const EPOCH = 1_000_000_000;

let ready = false;
let store = '';
let base: Layer;
beforeAll(async () => {
  if (!(await sandboxReady('sandbox properties'))) return;
  store = await tempDir('layerkit-run-prop-');
  const size = statSync('/bin/busybox').size;
  const meta = { uid: 0, gid: 0, mtime: 1000, size: 0 };
  const text = (path: string, body: string, mode = 0o644): Entry => {
    const bytes = new TextEncoder().encode(body);
    return { ...meta, path, type: 'file', mode, size: bytes.byteLength, content: bytesSource(bytes) };
  };
  const entries: Entry[] = [
    { ...meta, path: '/bin', type: 'dir', mode: 0o755 },
    { ...meta, path: '/bin/busybox', type: 'file', mode: 0o755, size, content: fileSource('/bin/busybox', size) },
    ...['sh', 'rm', 'mkdir', 'chmod', 'chown', 'ln', 'mv', 'touch', 'find', 'sort', 'stat', 'readlink', 'md5sum', 'cut'].map(
      (applet): Entry => ({ ...meta, path: `/bin/${applet}`, type: 'symlink', mode: 0o777, linkname: 'busybox' }),
    ),
    { ...meta, path: '/p', type: 'dir', mode: 0o755 },
    text('/p/a', 'a\n'),
    text('/p/b', 'b\n', 0o600),
    { ...meta, path: '/p/d', type: 'dir', mode: 0o755 },
    text('/p/d/x', 'x\n'),
    { ...meta, path: '/p/d/e', type: 'dir', mode: 0o700, uid: 5, gid: 6 },
    text('/p/d/e/y', 'y\n'),
    { ...meta, path: '/p/l', type: 'symlink', mode: 0o777, linkname: 'a' },
    text('/p/h', 'h\n'),
    { ...meta, path: '/p/h2', type: 'hardlink', mode: 0o644, linkname: '/p/h' },
  ];
  base = layerFromEntries(entries);
  ready = true;
});

const NAMES = ['/p/a', '/p/b', '/p/c', '/p/d', '/p/d/x', '/p/d/e', '/p/d/e/y', '/p/d/z', '/p/l', '/p/n', '/p/n/m'];
const name = fc.constantFrom(...NAMES);

/** One busybox command; failures are allowed (`|| true`): the outcome is still deterministic. */
const operation = fc.oneof(
  fc.tuple(name, fc.constantFrom('one', 'two', 'three')).map(([p, v]) => `echo ${v} > ${p}`),
  fc.tuple(name, fc.constantFrom('more', 'again')).map(([p, v]) => `echo ${v} >> ${p}`),
  name.map((p) => `rm -rf ${p}`),
  name.map((p) => `mkdir -p ${p}`),
  fc.tuple(name, fc.constantFrom('600', '755', '700', '644', '4755')).map(([p, m]) => `chmod ${m} ${p}`),
  fc.tuple(name, fc.constantFrom('1:1', '0:0', '7:8')).map(([p, o]) => `chown -h ${o} ${p}`),
  fc.tuple(name, name).map(([target, p]) => `ln -s ${target} ${p}`),
  fc.tuple(name, name).map(([from, to]) => `mv ${from} ${to}`),
  name.map((p) => `touch -d '2020-01-02 03:04:05' ${p}`),
  name.map((p) => `rm -rf ${p} && mkdir ${p} && echo fresh > ${p}/f`),
);

/** Lists /p as the command sees it: path, type, mode, owner, size, target or content digest. */
const LIST = `cd / && busybox find /p | sort | while read f; do
  if [ -L "$f" ]; then echo "$f symlink $(stat -c '%u:%g' "$f") -> $(readlink "$f")";
  elif [ -d "$f" ]; then echo "$f dir $(stat -c '%a %u:%g' "$f")";
  else echo "$f file $(stat -c '%a %u:%g' "$f") $(md5sum < "$f" | cut -d' ' -f1)"; fi; done`;

function step(script: string): RunStep {
  return {
    argv: ['/bin/sh', '-c', script],
    env: ['PATH=/bin'],
    workdir: '/',
    user: { uid: 0, gid: 0, additionalGids: [] },
    mounts: [],
    network: 'default',
    security: 'sandbox',
    heredocs: [],
    instruction: 'RUN …',
    location: { line: 1, column: 1 },
  };
}

async function runIn(strategy: 'overlay' | 'copy', script: string): Promise<{ layer: Layer | null; output: string }> {
  let output = '';
  const ctx: RunContext = {
    lowers: [base],
    rootfs: await UnionFS.open([base]),
    storeRoot: store,
    resolveMountSource: () => Promise.reject(new Error('no mounts')),
    sourceDateEpoch: EPOCH,
    onOutput(_stream, chunk) {
      output += Buffer.from(chunk).toString();
    },
  };
  const { layer } = await sandboxExecutor({ strategy }).run(step(script), ctx);
  return { layer, output };
}

/** The same listing, from the layers applied in memory. */
async function listing(layers: Layer[]): Promise<string> {
  const tree = await flatten(layers);
  const lines: string[] = [];
  for (const e of tree.entries()) {
    if (e.path !== '/p' && !e.path.startsWith('/p/')) continue;
    const entry = tree.get(e.path)!;
    if (entry.type === 'symlink') lines.push(`${e.path} symlink ${entry.uid}:${entry.gid} -> ${entry.linkname}`);
    else if (entry.type === 'dir') lines.push(`${e.path} dir ${entry.mode.toString(8)} ${entry.uid}:${entry.gid}`);
    else {
      const chunks: Uint8Array[] = [];
      for await (const chunk of entry.content?.open() ?? []) chunks.push(chunk);
      lines.push(`${e.path} file ${entry.mode.toString(8)} ${entry.uid}:${entry.gid} ${createHash('md5').update(Buffer.concat(chunks)).digest('hex')}`);
    }
  }
  return lines.sort().join('\n');
}

describe('sandbox executor laws', () => {
  it('the layer is what the command did, and both strategies make it the same', { timeout: 600_000 }, async (t) => {
    if (!ready) return t.skip();
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 8 }), async (ops) => {
        const script = `${ops.map((op) => `{ ${op}; } 2>/dev/null || true`).join('\n')}\n${LIST}`;
        const overlay = await runIn('overlay', script);
        const copy = await runIn('copy', script);
        expect(copy.output).toBe(overlay.output);
        const seen = overlay.output.trim().split('\n').sort().join('\n');
        expect(await listing(overlay.layer ? [base, overlay.layer] : [base])).toBe(seen);
        expect(copy.layer === null).toBe(overlay.layer === null);
        if (overlay.layer && copy.layer) expect(await copy.layer.diffId()).toBe(await overlay.layer.diffId());
        for (const layer of [overlay.layer, copy.layer]) await (layer as { release?: () => Promise<void> } | null)?.release?.();
      }),
      { numRuns: RUNS },
    );
  });
});
