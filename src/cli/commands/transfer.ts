/**
 * Moving images and build cache in and out of the local store: `save` and
 * `load` (the `docker save` / `docker load` pair, also reading OCI layouts),
 * and `cache du` / `cache prune` (`docker buildx du` / `prune`).
 * @module
 */
import { createReadStream, statSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import {
  BuildCache,
  extractedUsage,
  type Image,
  type ImageReference,
  ImageStore,
  LayerkitError,
  loadImages,
  makeScratchDir,
  parseReference,
  ramInBytes,
  storeTmp,
  SystemError,
  writeDockerArchive,
  writeOciLayout,
} from '../../index.js';
import { parseFlags, UsageError, type CliIo, type Command, type FlagSpec, type Flags } from '../io.js';
import { terminalOf, type TerminalIo } from '../terminal.js';

/** `--store DIR`, which every store and container verb takes. */
export const STORE_FLAG: FlagSpec = { name: 'store', value: true };

/** The `--store` line of every usage text. */
export const STORE_OPTION = `      --store DIR    the image store (default $LAYERKIT_HOME or ~/.local/share/layerkit)`;

/**
 * The store a command works on: `--store DIR`, else the default one
 * (`$LAYERKIT_HOME`, else the per-user `~/.local/share/layerkit`).
 *
 * @example
 * ```ts
 * const { flags } = parseFlags(['--store', '/tmp/s'], [STORE_FLAG]);
 * const images = await openStore(flags).list();
 * ```
 */
export function openStore(flags: Flags): ImageStore {
  const dir = flags.get('store');
  const store = dir === undefined ? new ImageStore() : new ImageStore(dir);
  refuseFileInPath(store.root, 'the store');
  return store;
}

/**
 * Refuses a directory path that is, or runs through, something other than a
 * directory (`--store` pointing at a file), naming it, before any command
 * trips over it with a bare `ENOTDIR`.
 */
function refuseFileInPath(dir: string, what: string): void {
  for (let path = resolve(dir); ; path = dirname(path)) {
    const info = statSync(path, { throwIfNoEntry: false });
    if (info !== undefined) {
      if (!info.isDirectory()) {
        const where = path === resolve(dir) ? `${dir} is not a directory` : `${dir}: ${path} is not a directory`;
        throw new SystemError('open', 'ENOTDIR', `${what} ${where}`, path);
      }
      return;
    }
    if (dirname(path) === path) return;
  }
}

/** Docker's human sizes: decimal units, three significant digits. */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toPrecision(3)}${units[unit]}`;
}

/**
 * A size as buildx's `--keep-storage` reads it (go-units `RAMInBytes`):
 * a number with an optional unit `k`, `m`, `g`, `t`, `p` (any case, with or
 * without `b` / `ib`), each 1024 times the last. `500MB` is 500 MiB.
 *
 * @throws {@link UsageError} for anything else.
 * @example
 * ```ts
 * parseSize('2GB');   // 2147483648
 * parseSize('1.5k');  // 1536
 * ```
 */
export function parseSize(text: string): number {
  const bytes = ramInBytes(text.trim());
  if (bytes === undefined || bytes < 0 || !Number.isSafeInteger(bytes)) throw new UsageError(`invalid size ${JSON.stringify(text)} (expected e.g. 500MB, 2GB or a number of bytes)`);
  return bytes;
}

// ---------------------------------------------------------------------------
// Bytes through standard input and output.

function stdoutWriter(io: CliIo): (bytes: Uint8Array) => void {
  if (io.write) return (bytes) => io.write!('stdout', bytes);
  // Text would corrupt a tar: a caller without byte output gets an error, not a broken file.
  throw new UsageError('standard output cannot take bytes here; use -o FILE');
}

/** Runs `fn` with a private directory under the store's `tmp/`, removed afterwards (or by the next command, if killed). */
async function withTempDir<T>(store: ImageStore, fn: (dir: string) => Promise<T>): Promise<T> {
  await store.sweepAbandoned();
  const dir = await makeScratchDir(storeTmp(store.root), 'transfer');
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// save

const SAVE_FORMATS = ['docker', 'oci'] as const;

const saveUsage = `Usage: layerkit save [-o FILE] [--format docker|oci] [--store DIR] IMAGE...

Writes images from the local store into a tar archive, to FILE or to
standard output (which must not be a terminal).

  -o, --output FILE  write to FILE instead of standard output
      --format F     docker (default): a docker-archive, what docker save
                     writes and docker load, podman load and skopeo
                     docker-archive: read (it is an OCI layout too);
                     oci: an OCI image layout tar (skopeo oci-archive:)
${STORE_OPTION}

IMAGE is a tag (saved under that tag), a repository name without a tag
(every tag of it), or an image ID or digest (saved untagged).
`;

/** One image to save and the tags it goes with. */
interface SaveItem {
  ref: string;
  tags: Set<string>;
}

function referenceOrUndefined(text: string): ImageReference | undefined {
  try {
    return parseReference(text, { defaultTag: false });
  } catch {
    return undefined;
  }
}

/** Which images `save` writes and under which tags, as `docker save` picks them. */
async function itemsToSave(store: ImageStore, names: string[]): Promise<SaveItem[]> {
  const items = new Map<string, SaveItem>();
  const add = (digest: string, tag?: string) => {
    const item = items.get(digest) ?? { ref: digest, tags: new Set<string>() };
    if (tag !== undefined) item.tags.add(tag);
    items.set(digest, item);
  };
  const summaries = await store.list();
  for (const name of names) {
    const ref = referenceOrUndefined(name);
    if (ref && ref.digest === undefined && ref.tag === undefined) {
      // A repository: every tag of it (and an image ID prefix that looks like a name is still an ID).
      const tagged = summaries.flatMap((s) => s.tags.filter((t) => parseReference(t).name === ref.name).map((t) => [s.digest, parseReference(t).canonical] as const));
      if (tagged.length > 0) {
        for (const [digest, tag] of tagged) add(digest, tag);
        continue;
      }
    }
    const info = await store.inspect(name);
    const canonicalTags = info.RepoTags.map((t) => parseReference(t).canonical);
    const wanted = ref && ref.digest === undefined ? parseReference(name).canonical : undefined;
    add(info.Descriptor.digest, wanted !== undefined && canonicalTags.includes(wanted) ? wanted : undefined);
  }
  return [...items.values()];
}

async function writeImages(dest: string, format: (typeof SAVE_FORMATS)[number], images: Array<{ image: Image; tags: string[] }>): Promise<void> {
  if (format === 'docker') await writeDockerArchive(dest, images);
  else await writeOciLayout(dest, images, { tar: true });
}

const saveCommand: Command = {
  name: 'save',
  summary: 'write images to a tar archive (docker-archive or OCI layout)',
  usage: saveUsage,
  async run(args: string[], io: CliIo & TerminalIo): Promise<number> {
    const { flags, positional } = parseFlags(args, [STORE_FLAG, { name: 'output', short: 'o', value: true }, { name: 'format', value: true }]);
    if (positional.length === 0) throw new UsageError('expected at least one IMAGE');
    const format = flags.get('format') ?? 'docker';
    if (!(SAVE_FORMATS as readonly string[]).includes(format)) {
      throw new UsageError(`--format expects docker or oci, got ${JSON.stringify(format)}`);
    }
    const output = flags.get('output');
    if (output === undefined && terminalOf(io).isTTY('stdout')) {
      io.stderr('layerkit save: cowardly refusing to write a tar to a terminal; use -o FILE or redirect standard output\n');
      return 1;
    }
    const store = openStore(flags);
    const items = await itemsToSave(store, positional);
    const images: Array<{ image: Image; tags: string[] }> = [];
    for (const item of items) images.push({ image: await store.getImage(item.ref), tags: [...item.tags] });
    const kind = format as (typeof SAVE_FORMATS)[number];
    if (output !== undefined) {
      // As docker save: the directory must exist (nothing is created on the way).
      const parent = dirname(resolve(output));
      const info = statSync(parent, { throwIfNoEntry: false });
      if (!info?.isDirectory()) {
        throw new SystemError('save', info ? 'ENOTDIR' : 'ENOENT', `invalid output path: directory ${JSON.stringify(dirname(output))} ${info ? 'is not a directory' : 'does not exist'}`, parent);
      }
      await writeImages(output, kind, images);
      return 0;
    }
    // The writers make a file atomically; standard output gets it once complete.
    const write = stdoutWriter(io);
    await withTempDir(store, async (dir) => {
      const file = join(dir, 'images.tar');
      await writeImages(file, kind, images);
      for await (const chunk of createReadStream(file)) write(chunk as Uint8Array);
    });
    return 0;
  },
};

// ---------------------------------------------------------------------------
// load

const loadUsage = `Usage: layerkit load [-i FILE] [--platform OS/ARCH] [--store DIR]

Stores the images of a tar archive read from FILE or standard input: a
docker-archive (docker save, podman save, skopeo docker-archive:), an OCI
image layout tar (buildx type=oci, skopeo oci-archive:), plain or gzip; or
an OCI image layout directory given with -i. Everything is verified before
anything is stored.

  -i, --input FILE   read FILE (or a layout directory) instead of
                     standard input
      --platform P   from a multi-platform image, store this platform
                     (default the host's)
${STORE_OPTION}

Prints "Loaded image: NAME" for each name, "Loaded image ID: ID" for an
image without one.
`;

const loadCommand: Command = {
  name: 'load',
  summary: 'store the images of a docker-archive or OCI layout tar',
  usage: loadUsage,
  async run(args: string[], io: CliIo & TerminalIo): Promise<number> {
    const { flags, positional } = parseFlags(args, [STORE_FLAG, { name: 'input', short: 'i', value: true }, { name: 'platform', value: true }]);
    if (positional.length > 0) throw new UsageError('load takes no arguments (use -i FILE)');
    const store = openStore(flags);
    const platform = flags.get('platform');
    const load = (path: string) => loadImages(store, path, platform === undefined ? {} : { platform });
    const input = flags.get('input');
    let result;
    if (input !== undefined) {
      result = await load(input);
    } else {
      const stdin = io.stdin;
      if (stdin === undefined || terminalOf(io).isTTY('stdin')) {
        io.stderr('layerkit load: nothing to read: standard input is a terminal; use -i FILE or redirect it\n');
        return 1;
      }
      // Archives are read by random access: standard input goes to a file first.
      result = await withTempDir(store, async (dir) => {
        const file = join(dir, 'stdin.tar');
        await writeFile(file, stdin);
        try {
          return await load(file);
        } catch (err) {
          // The spool file is ours, not the user's: name what they gave.
          if (err instanceof LayerkitError) err.message = err.message.split(file).join('standard input');
          throw err;
        }
      });
    }
    for (const image of result.images) {
      if (image.tags.length === 0) io.stdout(`Loaded image ID: ${image.id}\n`);
      for (const tag of image.tags) io.stdout(`Loaded image: ${parseReference(tag).familiar}\n`);
    }
    return 0;
  },
};

// ---------------------------------------------------------------------------
// cache

const cacheUsage = `Usage: layerkit cache du [--store DIR]
       layerkit cache prune [--keep-storage SIZE] [--all] [--store DIR]

The build cache of the store (records of build steps and their layers).

  du                 show how much the cache holds
  prune              without options, remove the layer blobs no record uses

      --keep-storage SIZE
                     remove the least recently used records until the cache
                     fits in SIZE (500MB, 2GB, 1.5GiB or bytes; units are
                     powers of 1024, as in buildx)
  -a, --all          remove every record (unless --keep-storage is given)
${STORE_OPTION}
`;

const cacheCommand: Command = {
  name: 'cache',
  summary: 'show (du) or prune the build cache',
  usage: cacheUsage,
  async run(args: string[], io: CliIo): Promise<number> {
    const [sub, ...rest] = args;
    if (sub === 'du') {
      const { flags, positional } = parseFlags(rest, [STORE_FLAG]);
      if (positional.length > 0) throw new UsageError('cache du takes no arguments');
      const store = openStore(flags);
      const usage = await new BuildCache(store).usage();
      // The unpacked layers RUN steps and containers use are a cache too.
      const extracted = await extractedUsage(store.root);
      io.stdout(`Records:      ${usage.records}\nLayer blobs:  ${usage.blobs}\n`);
      io.stdout(`Extracted layers: ${extracted.layers} (${humanSize(extracted.bytes)})\n`);
      io.stdout(`Total:        ${humanSize(usage.bytes + extracted.bytes)}\n`);
      return 0;
    }
    if (sub === 'prune') {
      const { flags, positional } = parseFlags(rest, [STORE_FLAG, { name: 'keep-storage', value: true }, { name: 'all', short: 'a' }]);
      if (positional.length > 0) throw new UsageError('cache prune takes no arguments');
      const keep = flags.get('keep-storage');
      const keepStorage = keep !== undefined ? parseSize(keep) : flags.has('all') ? 0 : Number.MAX_SAFE_INTEGER;
      const result = await new BuildCache(openStore(flags)).prune({ keepStorage });
      io.stdout(`Deleted build cache records: ${result.removedRecords}\nDeleted layer blobs: ${result.removedBlobs}\n`);
      io.stdout(`Total reclaimed space: ${humanSize(result.freedBytes)}\n`);
      return 0;
    }
    throw new UsageError(sub === undefined ? 'expected du or prune' : `unknown cache command ${JSON.stringify(sub)} (expected du or prune)`);
  },
};

/** `save`, `load` and `cache`, in the order `layerkit --help` lists them. */
export const transferCommands: readonly Command[] = [saveCommand, loadCommand, cacheCommand];
