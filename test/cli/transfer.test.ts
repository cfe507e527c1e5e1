/**
 * `layerkit save`, `load` and `cache`, run in-process through `main`, with
 * skopeo and umoci on the other side of the archives. A missing tool skips
 * its tests with a printed reason, and fails under CI=true.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSize } from '../../src/cli/commands/transfer.js';
import type { CliIo } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import type { TerminalIo } from '../../src/cli/terminal.js';
import { UsageError } from '../../src/cli/io.js';
import { listDockerArchive } from '../../src/image/docker-archive.js';
import { ImageStore } from '../../src/image/store/store.js';
import { TarArchive } from '../../src/image/tar-archive.js';
import { validateImage } from '../../src/testing/image.js';

const exec = promisify(execFile);

async function which(tool: string): Promise<boolean> {
  try {
    await exec('sh', ['-c', `command -v ${tool}`]);
    return true;
  } catch {
    if (process.env.CI === 'true') throw new Error(`${tool} is required under CI=true but is not installed`);
    console.warn(`skipping ${tool} tests in transfer.test.ts: ${tool} is not installed (apt-get install ${tool})`);
    return false;
  }
}

const skopeo = await which('skopeo');
const umoci = await which('umoci');

interface Outcome {
  status: number;
  stdout: string;
  stdoutBytes: Uint8Array;
  stderr: string;
}

/** Runs the CLI in-process with binary standard streams; `tty` makes them pose as terminals. */
async function cli(argv: string[], options: { stdin?: Uint8Array; tty?: Array<'stdin' | 'stdout'> } = {}): Promise<Outcome> {
  let stdout = '';
  let stderr = '';
  const bytes: Uint8Array[] = [];
  const data = options.stdin ?? new Uint8Array(0);
  const chunks = Array.from({ length: Math.ceil(data.byteLength / 4096) }, (_, i) => data.subarray(i * 4096, (i + 1) * 4096));
  const io: CliIo & TerminalIo = {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    readText: (p) => readFile(p, 'utf8'),
    write: (stream, b) => void (stream === 'stdout' ? bytes.push(Uint8Array.from(b)) : (stderr += new TextDecoder().decode(b))),
    // Chunked, as a pipe delivers it.
    stdin: Readable.from(chunks),
    isTTY: (s) => (options.tty ?? []).includes(s as 'stdin' | 'stdout'),
  };
  const status = await main(argv, io);
  return { status, stdout, stderr, stdoutBytes: Buffer.concat(bytes) };
}

let work: string;
let store: string;
let appId: string;
let helloId: string;
const repo = join(import.meta.dirname, '../..');

/** Every file of a directory tree with its size and content hash: a store before and after. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string, prefix: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(d);
    } catch {
      return;
    }
    for (const name of names.sort()) {
      const path = join(d, name);
      const info = await lstat(path);
      if (info.isDirectory()) await walk(path, `${prefix}${name}/`);
      else out[`${prefix}${name}`] = createHash('sha256').update(await readFile(path)).digest('hex');
    }
  };
  await walk(dir, '');
  return out;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lk-cli-transfer-'));
  store = join(work, 'store');
  const ctx = join(work, 'ctx');
  await mkdir(join(ctx, 'root/etc'), { recursive: true });
  await writeFile(join(ctx, 'root/etc/motd'), 'hi there\n');
  await symlink('motd', join(ctx, 'root/etc/link'));
  await writeFile(join(ctx, 'tool.sh'), '#!/bin/sh\necho tool\n');
  await chmod(join(ctx, 'tool.sh'), 0o600);
  await writeFile(
    join(ctx, 'Dockerfile'),
    'FROM scratch\nCOPY root/ /\nCOPY --chmod=0755 tool.sh /usr/bin/tool\nWORKDIR /srv\nENV A=1\nCMD ["/usr/bin/tool"]\n',
  );
  const app = await cli(['build', '-q', '--store', store, '--source-date-epoch', '0', '-t', 'me/app:1', ctx]);
  expect(app.status).toBe(0);
  appId = app.stdout.trim();
  const hello = await cli(['build', '-q', '--store', store, '--source-date-epoch', '0', '-t', 'hello', join(repo, 'examples/hello')]);
  expect(hello.status).toBe(0);
  helloId = hello.stdout.trim();
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('save', () => {
  it('writes a docker-archive that lists the tags it was asked for', async () => {
    const file = join(work, 'app.tar');
    const result = await cli(['save', '--store', store, '-o', file, 'me/app:1']);
    expect(result).toMatchObject({ status: 0, stdout: '', stderr: '' });
    const entries = await listDockerArchive(file);
    expect(entries).toEqual([expect.objectContaining({ RepoTags: ['me/app:1'], Config: `blobs/sha256/${appId.slice(7)}` })]);
  });

  it('saves every tag of a repository named without a tag, and an image ID untagged, as docker save does', async () => {
    expect((await cli(['tag', '--store', store, 'me/app:1', 'me/app:2'])).status).toBe(0);
    try {
      const file = join(work, 'repo.tar');
      expect((await cli(['save', '--store', store, '-o', file, 'me/app'])).status).toBe(0);
      const [entry, ...more] = await listDockerArchive(file);
      expect(more).toEqual([]);
      expect(new Set(entry!.RepoTags)).toEqual(new Set(['me/app:1', 'me/app:2']));
      const byId = join(work, 'by-id.tar');
      expect((await cli(['save', '--store', store, '-o', byId, appId.slice(7, 19)])).status).toBe(0);
      expect((await listDockerArchive(byId))[0]!.RepoTags).toEqual([]);
    } finally {
      await cli(['rmi', '--store', store, 'me/app:2']);
    }
  });

  it('writes to standard output when it is not a terminal, and refuses a terminal', async () => {
    const piped = await cli(['save', '--store', store, 'hello']);
    expect(piped.status).toBe(0);
    expect(piped.stdoutBytes.byteLength).toBeGreaterThan(1024);
    const file = join(work, 'hello.tar');
    expect((await cli(['save', '--store', store, '-o', file, 'hello'])).status).toBe(0);
    expect(Buffer.from(piped.stdoutBytes).equals(await readFile(file))).toBe(true);

    const refused = await cli(['save', '--store', store, 'hello'], { tty: ['stdout'] });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/refusing to write a tar to a terminal/);
    expect(refused.stdoutBytes.byteLength).toBe(0);
  });

  it('fails with status 1 for an image that is not there, and 2 for bad usage', async () => {
    const missing = await cli(['save', '--store', store, '-o', join(work, 'nope.tar'), 'nope:1']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/nope/);
    await expect(stat(join(work, 'nope.tar'))).rejects.toThrow();
    expect((await cli(['save', '--store', store])).status).toBe(2);
    expect((await cli(['save', '--format', 'zip', 'hello'])).status).toBe(2);
  });
});

describe.runIf(skopeo && umoci)('save → skopeo → umoci', () => {
  it('skopeo copies the docker-archive to an OCI layout and umoci unpacks the built tree', async () => {
    const file = join(work, 'interop.tar');
    expect((await cli(['save', '--store', store, '-o', file, 'me/app:1'])).status).toBe(0);
    const layout = join(work, 'interop-layout');
    await exec('skopeo', ['--insecure-policy', 'copy', '--quiet', `docker-archive:${file}`, `oci:${layout}:app`]);
    const bundle = join(work, 'bundle');
    await exec('umoci', ['unpack', '--rootless', '--image', `${layout}:app`, bundle]);
    const rootfs = join(bundle, 'rootfs');
    expect(await readFile(join(rootfs, 'etc/motd'), 'utf8')).toBe('hi there\n');
    expect(await readlink(join(rootfs, 'etc/link'))).toBe('motd');
    expect((await stat(join(rootfs, 'usr/bin/tool'))).mode & 0o7777).toBe(0o755);
    expect((await stat(join(rootfs, 'srv'))).isDirectory()).toBe(true);
    const config = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as { process: { args: string[]; cwd: string; env: string[] } };
    expect(config.process.args).toEqual(['/usr/bin/tool']);
    expect(config.process.cwd).toBe('/srv');
    expect(config.process.env).toContain('A=1');
  });

  it('skopeo reads --format oci as an oci-archive', async () => {
    const file = join(work, 'app-oci.tar');
    expect((await cli(['save', '--store', store, '--format', 'oci', '-o', file, 'me/app:1'])).status).toBe(0);
    const { stdout } = await exec('skopeo', ['--insecure-policy', 'inspect', '--config', `oci-archive:${file}:1`]);
    const config = JSON.parse(stdout) as { config: { Cmd: string[] }; rootfs: { diff_ids: string[] } };
    expect(config.config.Cmd).toEqual(['/usr/bin/tool']);
    expect(config.rootfs.diff_ids).toHaveLength(3);
  });
});

describe('load', () => {
  it('round trip: save then load into a fresh store keeps the image ID and tags, from a file or standard input', async () => {
    const file = join(work, 'both.tar');
    expect((await cli(['save', '--store', store, '-o', file, 'me/app:1', 'hello'])).status).toBe(0);
    const fresh = join(work, 'fresh-file');
    const loaded = await cli(['load', '--store', fresh, '-i', file]);
    expect(loaded).toMatchObject({ status: 0, stderr: '' });
    expect(loaded.stdout.split('\n').sort()).toEqual(['', 'Loaded image: hello:latest', 'Loaded image: me/app:1']);
    const images = await new ImageStore(fresh).list();
    expect(new Map(images.map((i) => [i.tags[0], i.id]))).toEqual(new Map([['me/app:1', appId], ['hello:latest', helloId]]));
    for (const i of images) expect((await validateImage(await new ImageStore(fresh).getImage(i.digest))).problems).toEqual([]);

    const piped = join(work, 'fresh-stdin');
    const fromStdin = await cli(['load', '--store', piped], { stdin: gzipSync(await readFile(file)) });
    expect(fromStdin.status).toBe(0);
    expect((await new ImageStore(piped).list()).map((i) => i.id).sort()).toEqual([appId, helloId].sort());
  });

  it('prints "Loaded image ID" for an image saved without a tag', async () => {
    const file = join(work, 'untagged.tar');
    expect((await cli(['save', '--store', store, '-o', file, helloId])).status).toBe(0);
    const loaded = await cli(['load', '--store', join(work, 'fresh-untagged'), '-i', file]);
    expect(loaded).toMatchObject({ status: 0, stdout: `Loaded image ID: ${helloId}\n` });
  });

  it('loads an OCI layout tar written by build --output type=oci, and a layout directory', async () => {
    const tar = join(work, 'build-oci.tar');
    const dir = join(work, 'build-oci-dir');
    const ctx = join(repo, 'examples/hello');
    const built = await cli(['build', '-q', '--store', store, '--source-date-epoch', '0', '-t', 'oci/hello:7', '-o', `type=oci,dest=${tar}`, '-o', `type=oci,dest=${dir},tar=false`, ctx]);
    expect(built.status).toBe(0);
    const fromTar = await cli(['load', '--store', join(work, 'fresh-oci'), '-i', tar]);
    expect(fromTar).toMatchObject({ status: 0, stdout: 'Loaded image: oci/hello:7\n' });
    expect((await new ImageStore(join(work, 'fresh-oci')).inspect('oci/hello:7')).Id).toBe(built.stdout.trim());
    const fromDir = await cli(['load', '--store', join(work, 'fresh-oci-dir'), '-i', dir]);
    expect(fromDir).toMatchObject({ status: 0, stdout: 'Loaded image: oci/hello:7\n' });
  });

  it.runIf(skopeo)('loads a docker-archive and an oci-archive made by skopeo', async () => {
    const layout = join(work, 'skopeo-src');
    const built = await cli(['build', '-q', '--store', store, '--source-date-epoch', '0', '-o', `type=oci,dest=${layout},tar=false,name=me/app:1`, join(work, 'ctx')]);
    expect(built.status).toBe(0);
    const archive = join(work, 'skopeo-docker.tar');
    await exec('skopeo', ['--insecure-policy', 'copy', '--quiet', `oci:${layout}:1`, `docker-archive:${archive}:skopeo/app:v1`]);
    const target = join(work, 'fresh-skopeo');
    const loaded = await cli(['load', '--store', target, '-i', archive]);
    expect(loaded).toMatchObject({ status: 0, stdout: 'Loaded image: skopeo/app:v1\n' });
    // skopeo re-encodes the config, so the ID may change; the layers and the container config do not.
    const original = await new ImageStore(store).inspect('me/app:1');
    const copy = await new ImageStore(target).inspect('skopeo/app:v1');
    expect(copy.RootFS.Layers).toEqual(original.RootFS.Layers);
    expect(copy.Config.Cmd).toEqual(original.Config.Cmd);
    expect(copy.Config.WorkingDir).toBe('/srv');
    expect((await validateImage(await new ImageStore(target).getImage('skopeo/app:v1'))).problems).toEqual([]);

    const ociArchive = join(work, 'skopeo-oci.tar');
    await exec('skopeo', ['--insecure-policy', 'copy', '--quiet', `oci:${layout}:1`, `oci-archive:${ociArchive}:me/app:2`]);
    const fromOci = await cli(['load', '--store', target, '-i', ociArchive]);
    expect(fromOci).toMatchObject({ status: 0, stdout: 'Loaded image: me/app:2\n' });
    expect((await new ImageStore(target).inspect('me/app:2')).RootFS.Layers).toEqual(original.RootFS.Layers);
  });

  describe('bad input: a typed error, status 1, the store unchanged', () => {
    async function expectRefused(args: string[], stdin: Uint8Array | undefined, message: RegExp): Promise<void> {
      const before = await snapshot(store);
      const result = await cli(['load', '--store', store, ...args], stdin === undefined ? {} : { stdin });
      expect(result.status).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(message);
      expect(await snapshot(store)).toEqual(before);
    }

    it('a missing file', async () => {
      await expectRefused(['-i', join(work, 'missing.tar')], undefined, /cannot load from .*missing\.tar: no such file or directory/);
    });

    it('garbage, an empty input, a tar that is neither kind of archive', async () => {
      await expectRefused([], new TextEncoder().encode('this is not a tar archive at all'.repeat(40)), /^layerkit load: invalid archive standard input: not a gzip\/zstd\/tar stream: first bytes 74 68 69 73 20 69 73 20\n$/);
      await expectRefused([], new Uint8Array(0), /neither a docker-archive .* nor an OCI image layout/);
      const plain = join(work, 'plain.tar');
      await exec('tar', ['-cf', plain, '-C', join(work, 'ctx'), 'tool.sh']);
      await expectRefused(['-i', plain], undefined, /neither a docker-archive/);
    });

    it('a truncated archive', async () => {
      const bytes = await readFile(join(work, 'both.tar'));
      await expectRefused([], bytes.subarray(0, Math.floor(bytes.byteLength / 2)), /invalid archive|expected/);
    });

    it('a flipped byte in a layer of the second image: the first image is not stored either', async () => {
      const file = join(work, 'both.tar');
      const archive = await TarArchive.open(file);
      const [first, second] = await listDockerArchive(file);
      const onlySecond = second!.Layers.find((l) => !first!.Layers.includes(l))!;
      const member = archive.file(onlySecond)!;
      const bytes = Buffer.from(await readFile(file));
      bytes[member.offset + 100] = bytes[member.offset + 100]! ^ 0xff;
      const fresh = join(work, 'fresh-corrupt');
      const result = await cli(['load', '--store', fresh], { stdin: bytes });
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/DIGEST|expected sha256:/i);
      expect(await snapshot(fresh)).toEqual({});
      await expectRefused([], bytes, /expected sha256:/);
    });

    it('standard input that is a terminal', async () => {
      const result = await cli(['load', '--store', store], { tty: ['stdin'] });
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/standard input is a terminal/);
    });
  });
});

describe('cache du and prune', () => {
  it('shows the cache and prunes it to a size, like buildx du / prune --keep-storage', async () => {
    const du = await cli(['cache', 'du', '--store', store]);
    expect(du.status).toBe(0);
    const records = Number(/^Records:\s+(\d+)$/m.exec(du.stdout)?.[1]);
    expect(records).toBeGreaterThan(5);
    expect(du.stdout).toMatch(/^Total:\s+\d+(\.\d+)?[kM]?B$/m);

    const gentle = await cli(['cache', 'prune', '--store', store]);
    expect(gentle.stdout).toMatch(/^Deleted build cache records: 0$/m);
    const kept = await cli(['cache', 'prune', '--store', store, '--keep-storage', '1kB']);
    expect(kept.status).toBe(0);
    const after = await cli(['cache', 'du', '--store', store]);
    const [, size, unit] = /^Total:\s+([\d.]+)(k?B)$/m.exec(after.stdout) ?? [];
    expect(Number(size) * (unit === 'kB' ? 1000 : 1)).toBeLessThanOrEqual(1024);

    const all = await cli(['cache', 'prune', '--store', store, '--all']);
    expect(all.stdout).toMatch(/^Total reclaimed space: /m);
    expect((await cli(['cache', 'du', '--store', store])).stdout).toMatch(/^Records:\s+0$/m);
    // A rebuild after the prune runs every step again.
    const rebuilt = await cli(['build', '--store', store, '--progress=quiet', join(repo, 'examples/hello')]);
    expect(rebuilt.status).toBe(0);
  });

  it('reads sizes as buildx does (units of 1024) and rejects bad usage with status 2', async () => {
    expect(parseSize('500MB')).toBe(500 * 2 ** 20);
    expect(parseSize('2GB')).toBe(2 * 2 ** 30);
    expect(parseSize('2g')).toBe(2 * 2 ** 30);
    expect(parseSize('1.5KiB')).toBe(1536);
    expect(parseSize('10')).toBe(10);
    expect(parseSize('0')).toBe(0);
    for (const bad of ['', 'MB', '-1GB', '1XB', '1.2.3']) expect(() => parseSize(bad)).toThrow(UsageError);
    expect((await cli(['cache', 'prune', '--store', store, '--keep-storage', 'lots'])).status).toBe(2);
    expect((await cli(['cache'])).status).toBe(2);
    expect((await cli(['cache', 'clean'])).status).toBe(2);
  });
});

describe('help', () => {
  it('lists save, load and cache in layerkit --help, and each has its own usage', async () => {
    const help = await cli(['--help']);
    for (const name of ['save', 'load', 'cache', 'images', 'build']) expect(help.stdout).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
    for (const [name, text] of [['save', /--format docker\|oci/], ['load', /-i, --input FILE/], ['cache', /--keep-storage SIZE/]] as const) {
      const out = await cli([name, '--help']);
      expect(out.status).toBe(0);
      expect(out.stdout).toMatch(new RegExp(`^Usage: layerkit ${name} `));
      expect(out.stdout).toMatch(text);
    }
  });
});
