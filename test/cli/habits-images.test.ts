/**
 * Docker habits with images, through the real program: one image ID is one
 * image however often and in whichever format it was loaded; SIZE is the
 * uncompressed size; a short word is a name, never a 1-character ID prefix
 * (in the CLI verbs, in FROM and in COPY --from).
 */
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BuildError } from '../../src/builder/errors.js';
import { ImageNotFoundError } from '../../src/image/errors.js';
import { ImageStore } from '../../src/image/store/store.js';
import { buildText, readText, rootfs, tempDir } from '../builder/helpers.js';
import { layerkit } from './habits-helpers.js';

let work: string;
let source: ImageStore;
let id: string;
let unpacked: number;

beforeAll(async () => {
  work = await tempDir('layerkit-habits-images-');
  source = new ImageStore(join(work, 'source'));
  // Half random, half zeros: the gzip blob is clearly smaller than the tar.
  const data = Buffer.concat([randomBytes(50_000), Buffer.alloc(150_000)]);
  const built = await buildText('FROM scratch\nCOPY a.bin /a.bin\nCOPY b.txt /b.txt\n', { 'a.bin': { content: data }, 'b.txt': 'b\n' }, { store: source, tags: 'habits/img:1' });
  id = built.imageId;
  unpacked = 0;
  for (const layer of await built.image.layers()) for await (const chunk of layer.uncompressed()) unpacked += chunk.length;
  const compressed = (await Promise.all((await built.image.layers()).map((l) => l.size()))).reduce((a, b) => a + b, 0);
  expect(compressed).toBeLessThan(unpacked);
}, 120_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

function rows(table: string): string[][] {
  return table.trim().split('\n').slice(1).map((line) => line.split(/\s{3,}/));
}

describe('one image ID is one image', () => {
  it('lists an image loaded from a docker-archive and from an OCI layout once, with its uncompressed size, and rmi ID removes it', async () => {
    const dockerTar = join(work, 'img.docker.tar');
    const ociTar = join(work, 'img.oci.tar');
    expect((await layerkit(['save', '--store', source.root, '-o', dockerTar, 'habits/img:1'])).status).toBe(0);
    expect((await layerkit(['save', '--store', source.root, '--format', 'oci', '-o', ociTar, 'habits/img:1'])).status).toBe(0);
    const store = join(work, 'twice');
    for (const file of [dockerTar, ociTar]) {
      const loaded = await layerkit(['load', '--store', store, '-i', file]);
      expect(loaded.status, loaded.stderr).toBe(0);
    }
    // Two manifests are stored (plain tars and gzip blobs) …
    expect(new Set((await new ImageStore(store).list()).map((s) => s.id))).toEqual(new Set([id]));

    const listed = await layerkit(['images', '--store', store]);
    expect(listed.status, listed.stderr).toBe(0);
    const table = rows(listed.stdout);
    expect(table).toHaveLength(1);
    expect(table[0]!.slice(0, 3)).toEqual(['habits/img', '1', id.slice(7, 19)]);
    expect(table[0]!.at(-1)).toBe(`${(unpacked / 1000).toPrecision(3)}kB`);

    const inspected = await layerkit(['inspect', '--store', store, id.slice(7, 19)]);
    expect(inspected.status, inspected.stderr).toBe(0);
    expect((JSON.parse(inspected.stdout) as Array<{ Size: number; Id: string }>)[0]).toMatchObject({ Id: id, Size: unpacked });

    const history = await layerkit(['history', '--store', store, 'habits/img:1']);
    expect(history.status, history.stderr).toBe(0);
    const sizes = rows(history.stdout).map((r) => r[2]);
    expect(sizes.length).toBe(2);

    const removed = await layerkit(['rmi', '--store', store, id.slice(7, 19)]);
    expect(removed.status, removed.stderr).toBe(0);
    expect(removed.stdout).toContain('Untagged: docker.io/habits/img:1');
    expect((await layerkit(['images', '-q', '--store', store])).stdout).toBe('');
  }, 120_000);

  it('shows the same SIZE whichever format the image came from', async () => {
    const sizes: string[] = [];
    for (const format of ['docker', 'oci']) {
      const file = join(work, `one.${format}.tar`);
      const store = join(work, `one-${format}`);
      expect((await layerkit(['save', '--store', source.root, '--format', format, '-o', file, 'habits/img:1'])).status).toBe(0);
      expect((await layerkit(['load', '--store', store, '-i', file])).status).toBe(0);
      const inspected = JSON.parse((await layerkit(['inspect', '--store', store, 'habits/img:1'])).stdout) as Array<{ Size: number }>;
      sizes.push(String(inspected[0]!.Size));
    }
    expect(sizes).toEqual([String(unpacked), String(unpacked)]);
  }, 120_000);
});

describe('a short word is a name, not an ID prefix', () => {
  it('the CLI verbs take an ID prefix from 4 hex digits, never a 1-character word', async () => {
    const hex = id.slice(7);
    const one = await layerkit(['inspect', '--store', source.root, hex.slice(0, 1)]);
    expect(one.status).toBe(1);
    expect(one.stderr).toMatch(/no image "/);
    const three = await layerkit(['inspect', '--store', source.root, hex.slice(0, 3)]);
    expect(three.status).toBe(1);
    const four = await layerkit(['inspect', '--store', source.root, hex.slice(0, 4)]);
    expect(four.status, four.stderr).toBe(0);
    expect((JSON.parse(four.stdout) as Array<{ Id: string }>)[0]!.Id).toBe(id);
  }, 60_000);

  it('law: a prefix of 1 to 3 hex digits never names an image by ID; every prefix of 4 or more of a unique ID does', async () => {
    const hex = id.slice(7);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 64 }), fc.boolean(), async (length, prefixed) => {
        const ref = `${prefixed ? 'sha256:' : ''}${hex.slice(0, length)}`;
        const found = await source.getImage(ref).then((image) => image.configDigest(), (err: unknown) => err);
        if (length < 4) expect(found).toBeInstanceOf(ImageNotFoundError);
        else expect(found).toBe(id);
      }),
      { numRuns: 40 },
    );
  }, 60_000);

  it('FROM and COPY --from with a stage typo fail instead of picking an image by its first ID digit', async () => {
    const first = id.slice(7, 8);
    const typo = `FROM scratch AS base\nCOPY b.txt /b.txt\nFROM ${first}\n`;
    await expect(buildText(typo, { 'b.txt': 'b\n' }, { store: source })).rejects.toMatchObject({ code: 'BASE_IMAGE_NOT_FOUND' });
    const copyTypo = `FROM scratch AS base\nCOPY b.txt /b.txt\nFROM scratch\nCOPY --from=${first} /b.txt /c.txt\n`;
    if (first === '0') {
      // `--from=0` names stage 0 by its index (BuildKit's rule): the copy reads the stage, never the image.
      const fromStage = await buildText(copyTypo, { 'b.txt': 'from the stage\n' }, { store: source });
      expect(await readText(await rootfs(fromStage.image), '/c.txt')).toBe('from the stage\n');
    } else {
      await expect(buildText(copyTypo, { 'b.txt': 'b\n' }, { store: source })).rejects.toBeInstanceOf(BuildError);
    }
    // A name close to a stage's says which stage was probably meant.
    const near = await buildText('FROM scratch AS builder\nCOPY b.txt /b.txt\nFROM bulder\n', { 'b.txt': 'b\n' }, { store: source }).catch((e: unknown) => e);
    expect(near).toMatchObject({ code: 'BASE_IMAGE_NOT_FOUND' });
    expect((near as Error).message).toContain('did you mean "builder"?');
    // A short ID, as docker images prints it, still names the image.
    const byId = await buildText(`FROM ${id.slice(7, 19)}\nCOPY b.txt /again.txt\n`, { 'b.txt': 'b\n' }, { store: source });
    expect((await byId.image.config()).rootfs.diff_ids.length).toBe(3);
  }, 60_000);

  it('the CLI build fails the same way, in one line with the position', async () => {
    const ctx = join(work, 'typo-ctx');
    await rm(ctx, { recursive: true, force: true });
    const { mkdir } = await import('node:fs/promises');
    await mkdir(ctx);
    await writeFile(join(ctx, 'Dockerfile'), `FROM scratch AS base\nFROM ${id.slice(7, 8)}\n`);
    const out = await layerkit(['build', '--store', source.root, '--progress=quiet', ctx]);
    expect(out.status).toBe(1);
    expect(out.stderr).toContain(':2:');
    expect(out.stderr).toMatch(/not in the local store|not found/);
  }, 60_000);
});

describe('images and inspect, formatted', () => {
  it('inspect -f/--format applies a Go template to each image', async () => {
    const tpl = '{{.Id}}|{{json .RootFS.Layers}}|{{index .RepoTags 0}}|{{range .RootFS.Layers}}L{{end}}|{{.Config.Env}}';
    const out = await layerkit(['inspect', '--store', source.root, '-f', tpl, 'habits/img:1', id.slice(7, 19)]);
    expect(out.status, out.stderr).toBe(0);
    const built = await source.inspect('habits/img:1');
    const line = `${id}|${JSON.stringify(built.RootFS.Layers)}|habits/img:1|LL|[${(built.Config.Env ?? []).join(' ')}]`;
    // Go prints a list as [a b].
    expect(built.Config.Env?.length).toBeGreaterThan(0);
    expect(out.stdout).toBe(`${line}\n${line}\n`);
    const bad = await layerkit(['inspect', '--store', source.root, '--format', '{{.Id', 'habits/img:1']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('unclosed action');
  }, 60_000);

  it('images --format, table formats, -a and REPOSITORY[:TAG]', async () => {
    await source.tag('habits/img:1', 'habits/img:2');
    await source.tag('habits/img:1', 'other/thing:x');
    const plain = await layerkit(['images', '--store', source.root, '--format', '{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}', 'habits/img']);
    expect(plain.status, plain.stderr).toBe(0);
    const size = `${(unpacked / 1000).toPrecision(3)}kB`;
    expect(plain.stdout.split('\n').filter(Boolean).sort()).toEqual([`habits/img:1 ${id.slice(7, 19)} ${size}`, `habits/img:2 ${id.slice(7, 19)} ${size}`]);
    const one = await layerkit(['images', '-a', '--store', source.root, '--format', '{{.Tag}}', 'habits/img:2']);
    expect(one.stdout).toBe('2\n');
    const table = await layerkit(['images', '--store', source.root, '--format', 'table {{.Repository}}\t{{.Tag}}', 'other/thing']);
    expect(table.stdout).toBe(`${'REPOSITORY'.padEnd(14)}TAG\n${'other/thing'.padEnd(14)}x\n`);
    const json = await layerkit(['images', '--store', source.root, '--format', 'json', 'other/thing:x']);
    expect(JSON.parse(json.stdout)).toMatchObject({ Repository: 'other/thing', Tag: 'x', ID: id.slice(7, 19), Size: size });
    const none = await layerkit(['images', '--store', source.root, 'nothing/here']);
    expect(none.stdout.trim().split('\n')).toHaveLength(1);
    const full = await layerkit(['images', '-q', '--no-trunc', '--store', source.root, 'other/thing']);
    expect(full.stdout).toBe(`${id}\n`);
  }, 60_000);
});
