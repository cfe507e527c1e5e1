/**
 * The Docker verbs for images in the local store: `images`, `inspect`,
 * `history`, `tag`, `rmi`, `prune`, then `save`, `load` and `cache` from
 * transfer.ts. Each is a call into the image store or the build cache.
 * @module
 */
import { layersInUse, pruneExtracted } from '../../index.js';
import { humanDuration } from '../status-text.js';
import { formatList, renderGoTemplate } from '../go-template.js';
import { parseFlags, UsageError, type CliIo, type Command } from '../io.js';
import { humanSize, openStore, STORE_FLAG, STORE_OPTION, transferCommands } from './transfer.js';

export { humanSize };

function shortId(id: string): string {
  return id.slice(id.indexOf(':') + 1, id.indexOf(':') + 13);
}

/** Docker's CREATED column: Go's `units.HumanDuration` and "ago" ("About a minute ago"). */
export function since(created: string | undefined, now = Date.now()): string {
  if (!created) return 'N/A';
  return `${humanDuration(Math.max(0, now - Date.parse(created)))} ago`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('').trimEnd()).join('\n') + '\n';
}

function splitTag(repoTag: string): [string, string] {
  const colon = repoTag.lastIndexOf(':');
  return colon > repoTag.lastIndexOf('/') ? [repoTag.slice(0, colon), repoTag.slice(colon + 1)] : [repoTag, '<none>'];
}

/** Whether a tag (`repo:tag`, familiar) is one `images REPOSITORY[:TAG]` asks for. */
function matchesRepo(repoTag: string, wanted: string | undefined): boolean {
  if (wanted === undefined) return true;
  const [repo, tag] = splitTag(repoTag);
  const [wantRepo, wantTag] = splitTag(wanted);
  const bare = (r: string) => r.replace(/^(docker\.io\/)?(library\/)?/, '');
  return bare(repo) === bare(wantRepo) && (wantTag === '<none>' || wantTag === tag);
}

function filterImages<T extends { tags: string[] }>(images: T[], wanted: string | undefined): T[] {
  return wanted === undefined ? images : images.filter((i) => i.tags.some((t) => matchesRepo(t, wanted)));
}

/** What `images --format` templates see, per line (Docker's field names). */
interface ImageRow {
  ID: string;
  Repository: string;
  Tag: string;
  Digest: string;
  CreatedSince: string;
  CreatedAt: string;
  Size: string;
  Containers: string;
  SharedSize: string;
  UniqueSize: string;
}

/** Go's `time.Time.String()` in UTC, as Docker's CreatedAt: `2024-01-01 00:00:00 +0000 UTC`. */
function goTime(iso: string | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 19).replace('T', ' ')} +0000 UTC`;
}

function imageRows(images: Awaited<ReturnType<ReturnType<typeof openStore>['list']>>, idOf: (id: string) => string, wanted: string | undefined): ImageRow[] {
  const rows: ImageRow[] = [];
  for (const image of images) {
    const names = image.tags.length > 0 ? image.tags.filter((t) => matchesRepo(t, wanted)) : ['<none>:<none>'];
    for (const name of names) {
      const [repo, tag] = name === '<none>:<none>' ? ['<none>', '<none>'] : splitTag(name);
      rows.push({
        ID: idOf(image.id),
        Repository: repo,
        Tag: tag,
        Digest: image.digest,
        CreatedSince: since(image.created),
        CreatedAt: goTime(image.created),
        Size: humanSize(image.size),
        Containers: 'N/A',
        SharedSize: 'N/A',
        UniqueSize: 'N/A',
      });
    }
  }
  return rows;
}

const IMAGE_HEADERS: Record<keyof ImageRow, string> = {
  ID: 'IMAGE ID',
  Repository: 'REPOSITORY',
  Tag: 'TAG',
  Digest: 'DIGEST',
  CreatedSince: 'CREATED',
  CreatedAt: 'CREATED AT',
  Size: 'SIZE',
  Containers: 'CONTAINERS',
  SharedSize: 'SHARED SIZE',
  UniqueSize: 'UNIQUE SIZE',
};

/** `--format json` is one JSON object per line, as Docker; anything else a Go template. */
function formatImages(format: string, rows: ImageRow[]): string {
  if (format === 'json') return rows.map((r) => `${JSON.stringify(r)}\n`).join('');
  return formatList(format, rows, IMAGE_HEADERS);
}

const imagesCommand: Command = {
  name: 'images',
  summary: 'list the images in the local store',
  usage: `Usage: layerkit images [OPTIONS] [REPOSITORY[:TAG]]

Lists the images of the store, newest first, one line per tag; with
REPOSITORY[:TAG], only those.

  -q, --quiet        only image IDs
      --digests      show manifest digests
  -a, --all          every image (the same: layerkit keeps no intermediate images)
      --no-trunc     full image IDs
      --format T     a Go template per line ({{.ID}} {{.Repository}} {{.Tag}}
                     {{.Digest}} {{.CreatedSince}} {{.CreatedAt}} {{.Size}}),
                     'table T' with a header, or json
${STORE_OPTION}
`,
  async run(args: string[], io: CliIo): Promise<number> {
    const { flags, positional } = parseFlags(args, [STORE_FLAG, { name: 'quiet', short: 'q' }, { name: 'digests' }, { name: 'all', short: 'a' }, { name: 'no-trunc' }, { name: 'format', value: true }]);
    if (positional.length > 1) throw new UsageError('expected at most one REPOSITORY[:TAG]');
    const images = filterImages(await openStore(flags).list(), positional[0]);
    for (const image of images.filter((i) => i.corrupt !== undefined)) {
      const name = image.tags[0] ?? image.digest;
      io.stderr(`layerkit images: warning: ${name} is corrupt (${image.corrupt}); remove it with layerkit rmi ${image.tags[0] ?? image.digest}\n`);
    }
    const idOf = (id: string) => (flags.has('no-trunc') ? id : shortId(id));
    if (flags.has('quiet')) {
      io.stdout([...new Set(images.map((i) => idOf(i.id)))].map((id) => `${id}\n`).join(''));
      return 0;
    }
    const format = flags.get('format');
    if (format !== undefined) {
      io.stdout(formatImages(format, imageRows(images, idOf, positional[0])));
      return 0;
    }
    const digests = flags.has('digests');
    const rows = [['REPOSITORY', 'TAG', ...(digests ? ['DIGEST'] : []), 'IMAGE ID', 'CREATED', 'SIZE']];
    for (const image of images) {
      const names = image.tags.length > 0 ? image.tags.filter((t) => matchesRepo(t, positional[0])) : ['<none>:<none>'];
      for (const name of names) {
        const [repo, tag] = name === '<none>:<none>' ? ['<none>', '<none>'] : splitTag(name);
        const size = image.corrupt === undefined ? humanSize(image.size) : '<corrupt>';
        rows.push([repo, tag, ...(digests ? [image.digest] : []), idOf(image.id), since(image.created), size]);
      }
    }
    io.stdout(table(rows));
    return 0;
  },
};

const inspectCommand: Command = {
  name: 'inspect',
  summary: 'show an image as JSON (docker image inspect)',
  usage: `Usage: layerkit inspect [OPTIONS] IMAGE...

Prints a JSON array with the main fields of docker image inspect (Id,
RepoTags, RepoDigests, Created, Architecture, Os, Size, Config, RootFS).
IMAGE is a tag, NAME@DIGEST, a manifest digest or an image ID (a prefix
of at least 4 hex digits).

  -f, --format T     a Go template per image: {{.Id}}, {{json .Config}},
                     {{index .Config.Labels "k"}}, {{range .Config.Env}}…{{end}}
${STORE_OPTION}
`,
  async run(args: string[], io: CliIo): Promise<number> {
    const { flags, positional } = parseFlags(args, [STORE_FLAG, { name: 'format', short: 'f', value: true }]);
    if (positional.length === 0) throw new UsageError('expected at least one IMAGE');
    const store = openStore(flags);
    const found = [];
    for (const ref of positional) found.push(await store.inspect(ref));
    const format = flags.get('format');
    if (format !== undefined && format !== 'json') {
      io.stdout(found.map((image) => `${renderGoTemplate(format, image)}\n`).join(''));
      return 0;
    }
    io.stdout(JSON.stringify(found, null, 4) + '\n');
    return 0;
  },
};

const historyCommand: Command = {
  name: 'history',
  summary: 'show the history of an image',
  usage: `Usage: layerkit history [--no-trunc] [--store DIR] IMAGE

Lists the steps an image was made by, newest first, with their layer sizes.

      --no-trunc     do not truncate CREATED BY
${STORE_OPTION}
`,
  async run(args: string[], io: CliIo): Promise<number> {
    const { flags, positional } = parseFlags(args, [STORE_FLAG, { name: 'no-trunc' }]);
    if (positional.length !== 1) throw new UsageError('expected exactly one IMAGE');
    const entries = await openStore(flags).history(positional[0]!);
    const truncate = !flags.has('no-trunc');
    const rows = [['CREATED', 'CREATED BY', 'SIZE', 'COMMENT']];
    for (const entry of entries) {
      const by = truncate && entry.createdBy.length > 45 ? `${entry.createdBy.slice(0, 44)}…` : entry.createdBy;
      rows.push([since(entry.created), by, humanSize(entry.size), entry.comment ?? '']);
    }
    io.stdout(table(rows));
    return 0;
  },
};

const tagCommand: Command = {
  name: 'tag',
  summary: 'add a tag to an image',
  usage: `Usage: layerkit tag [--store DIR] SOURCE TARGET

Gives the image SOURCE names the name TARGET (moved from any other image).

${STORE_OPTION}
`,
  async run(args: string[], io: CliIo): Promise<number> {
    const { flags, positional } = parseFlags(args, [STORE_FLAG]);
    if (positional.length !== 2) throw new UsageError('expected SOURCE and TARGET');
    await openStore(flags).tag(positional[0]!, positional[1]!);
    void io;
    return 0;
  },
};

const rmiCommand: Command = {
  name: 'rmi',
  summary: 'remove images (untag; delete when no tag is left)',
  usage: `Usage: layerkit rmi [--force] [--store DIR] IMAGE...

By tag: removes that tag, and the image with its last tag. By ID or
digest: removes the image and its tags. Unpacked copies of layers that no
image uses any more go at once; blobs go with layerkit prune.

  -f, --force        remove by ID even when several tags point at the image
${STORE_OPTION}
`,
  async run(args: string[], io: CliIo): Promise<number> {
    const { flags, positional } = parseFlags(args, [STORE_FLAG, { name: 'force', short: 'f' }]);
    if (positional.length === 0) throw new UsageError('expected at least one IMAGE');
    const store = openStore(flags);
    for (const ref of positional) {
      const result = await store.remove(ref, { force: flags.has('force') });
      for (const tag of result.untagged) io.stdout(`Untagged: ${tag}\n`);
      for (const digest of result.deleted) io.stdout(`Deleted: ${digest}\n`);
    }
    await pruneExtracted(store.root, { keep: await layersInUse(store.root) });
    return 0;
  },
};

const pruneCommand: Command = {
  name: 'prune',
  summary: 'delete unreferenced blobs (and untagged images with --dangling)',
  usage: `Usage: layerkit prune [--dangling] [--store DIR]

Deletes the blobs no image of the store uses, and the unpacked copies of
layers (used by RUN and containers) that no image uses (the build cache
has its own: layerkit cache prune).

      --dangling     also remove images without a tag
${STORE_OPTION}
`,
  async run(args: string[], io: CliIo): Promise<number> {
    const { flags, positional } = parseFlags(args, [STORE_FLAG, { name: 'dangling' }]);
    if (positional.length > 0) throw new UsageError('prune takes no arguments');
    const store = openStore(flags);
    const result = await store.gc({ dangling: flags.has('dangling') });
    const extracted = await pruneExtracted(store.root, { keep: await layersInUse(store.root) });
    for (const digest of result.removedImages) io.stdout(`Deleted Images: ${digest}\n`);
    io.stdout(`Total reclaimed space: ${humanSize(result.freedBytes + extracted.freedBytes)}\n`);
    return 0;
  },
};

/** The store verbs, in the order `layerkit --help` lists them. */
export const imageCommands: readonly Command[] = [
  imagesCommand,
  inspectCommand,
  historyCommand,
  tagCommand,
  rmiCommand,
  pruneCommand,
  ...transferCommands,
];
