/**
 * Differential tests of RUN against buildah: the same busybox Dockerfiles
 * built by buildah (`bud --isolation chroot --layers`, vfs storage, pushed
 * to an OCI layout) and by layerkit's sandbox executor (OCI layout output),
 * both unpacked by `umoci raw unpack`, must give the same root file system
 * (types, modes, owners, link targets, hardlink groups, contents) and the
 * same runtime config.
 *
 * Where buildah departs from BuildKit, layerkit follows BuildKit; each
 * difference these Dockerfiles meet is listed in ALLOWED with its reason,
 * and the test checks that layerkit's side is the BuildKit behaviour.
 */
import { copyFile, lstat, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { sandboxExecutor } from '../../src/sandbox/index.js';
import { buildText, exec, type FileSpec, requireTool, sandboxReady, tempDir, writeContext } from './helpers.js';

/**
 * The departures of buildah 1.28 (chroot isolation) from BuildKit that these
 * Dockerfiles meet:
 * - `stubs`: buildah leaves the mount points it created for a RUN in that
 *   RUN's layer — empty `/proc`, `/dev`, `/sys`, `/run`, `/etc` and empty
 *   0755 files `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`, and the
 *   targets of `--mount`s; BuildKit removes the stubs it created, and so
 *   does layerkit (its stubs are never in the upper directory at all).
 * - `label`: buildah adds an `io.buildah.version` label.
 * - `history`: history text and `created` times are written differently: not compared.
 * - `hardlink-copyup`: a metadata change (chmod) to one name of a
 *   hardlinked file from a lower layer: overlayfs mounted with `index=off`
 *   (as containerd's overlay snapshotter, hence BuildKit, and Docker's
 *   overlay2 mount it) copies that name up alone and the link is broken, so
 *   the other names keep the old metadata; buildah's vfs storage changes the
 *   shared inode. layerkit's overlay strategy is BuildKit's.
 * - `opaque`: for `rm -rf d && mkdir d` buildah writes one whiteout per lower
 *   child (naive diff), layerkit an opaque marker (overlayfs); the unpacked
 *   trees are the same, which is what is compared.
 */
// Not compared because buildah 1.28 lacks them: heredocs (its parser rejects
// them) and SHELL (ignored for OCI images); run-sandbox.test.ts covers both.
const ALLOWED = ['stubs', 'label', 'history', 'hardlink-copyup', 'opaque'] as const;

/** Paths buildah's chroot isolation creates as mount points (see `stubs`). */
const STUBS = ['/proc', '/dev', '/sys', '/run', '/etc', '/etc/hosts', '/etc/hostname', '/etc/resolv.conf'];

let ready = false;
let root = '';
beforeAll(async () => {
  if (!(await requireTool('buildah')) || !(await requireTool('umoci')) || !(await requireTool('skopeo'))) return;
  if (!(await sandboxReady('the buildah RUN differential'))) return;
  root = await tempDir('layerkit-run-buildah-');
  ready = true;
});

/** path → `type mode uid:gid …` of an unpacked root file system (mtimes left out: builders stamp them). */
async function walk(dir: string, rel = '', inodes = new Map<number, string>()): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(join(dir, rel))).sort()) {
    const path = rel === '' ? `/${name}` : `${rel}/${name}`;
    const host = join(dir, path);
    const info = await lstat(host);
    const mode = (info.mode & 0o7777).toString(8).padStart(4, '0');
    if (info.isSymbolicLink()) out[path] = `symlink ${info.uid}:${info.gid} -> ${await readlink(host)}`;
    else if (info.isDirectory()) {
      out[path] = `dir ${mode} ${info.uid}:${info.gid}`;
      Object.assign(out, await walk(dir, path, inodes));
    } else {
      // Hardlink groups: later names say which earlier name they share the inode with.
      const first = info.nlink > 1 ? inodes.get(info.ino) : undefined;
      if (info.nlink > 1 && first === undefined) inodes.set(info.ino, path);
      const link = first === undefined ? '' : ` =${first}`;
      out[path] = `file ${mode} ${info.uid}:${info.gid}${link} ${JSON.stringify(await readFile(host, 'utf8'))}`;
    }
  }
  return out;
}

interface Built {
  tree: Record<string, string>;
  config: Record<string, unknown>;
}

async function viaBuildah(name: string, context: string, dockerfile: string): Promise<Built> {
  const storage = ['--storage-driver', 'vfs', '--root', join(root, 'root'), '--runroot', join(root, 'runroot')];
  await writeFile(join(context, 'Dockerfile.buildah'), dockerfile);
  await exec('buildah', [...storage, 'bud', '--isolation', 'chroot', '--layers', '-f', join(context, 'Dockerfile.buildah'), '-t', name, context], { maxBuffer: 1 << 24 });
  const layout = join(root, `oci-${name}`);
  await exec('buildah', [...storage, 'push', name, `oci:${layout}:${name}`]);
  const bundle = join(root, `rootfs-buildah-${name}`);
  await exec('umoci', ['raw', 'unpack', '--image', `${layout}:${name}`, bundle]);
  const { stdout } = await exec('skopeo', ['inspect', '--config', `oci:${layout}:${name}`]);
  return { tree: await walk(bundle), config: (JSON.parse(stdout) as { config: Record<string, unknown> }).config };
}

async function viaLayerkit(name: string, context: string, dockerfile: string): Promise<Built> {
  const layout = join(root, `lk-${name}`);
  const result = await buildText(dockerfile, {}, { context, executor: sandboxExecutor(), output: `type=oci,dest=${layout},tar=false,name=${name}:latest` });
  const bundle = join(root, `rootfs-layerkit-${name}`);
  await exec('umoci', ['raw', 'unpack', '--image', `${layout}:latest`, bundle]);
  return { tree: await walk(bundle), config: (await result.image.config()).config as Record<string, unknown> };
}

const RUNTIME_KEYS = ['Env', 'Cmd', 'Entrypoint', 'WorkingDir', 'User', 'Labels', 'ExposedPorts', 'Volumes'];
const BASE = 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n';

interface Expectations {
  /** Mount points of `--mount`s (see `stubs`). */
  stubs?: string[];
  /** [chmodded name, other name, the other's metadata as before] (see `hardlink-copyup`). */
  copyUp?: Array<[string, string, string]>;
}

async function compare(name: string, dockerfile: string, files: Record<string, FileSpec> = {}, expectations: Expectations = {}) {
  const context = await writeContext(files);
  await copyFile('/bin/busybox', join(context, 'busybox'));
  const theirs = await viaBuildah(name, context, dockerfile);
  const ours = await viaLayerkit(name, context, dockerfile);
  if (process.env.LAYERKIT_DEBUG_BUILDAH) console.log(name, theirs.tree, ours.tree);

  // stubs: buildah's empty mount points; layerkit must not have them (unless the RUN wrote there).
  for (const path of [...STUBS, ...(expectations.stubs ?? [])].reverse()) {
    const stub = theirs.tree[path];
    if (stub === undefined || ours.tree[path] !== undefined) continue;
    const empty = stub.startsWith('dir ') ? !Object.keys(theirs.tree).some((p) => p.startsWith(path + '/')) : stub.endsWith(' ""');
    if (empty) delete theirs.tree[path];
  }
  // hardlink-copyup: ours keeps the other name as it was, unlinked; theirs changed the shared inode.
  for (const [changed, other, before] of expectations.copyUp ?? []) {
    expect(ours.tree[other]).toBe(before);
    expect(theirs.tree[other]).toMatch(new RegExp(` =${changed} `));
    theirs.tree[other] = before;
  }
  expect(Object.keys(theirs.tree).length).toBeGreaterThan(200);
  expect(ours.tree).toEqual(theirs.tree);

  const pick = (config: Record<string, unknown>) => Object.fromEntries(RUNTIME_KEYS.map((k) => [k, config[k] ?? null]));
  const theirConfig = pick(theirs.config);
  // label: buildah stamps its version.
  const labels = { ...((theirConfig.Labels as Record<string, string> | null) ?? {}) };
  delete labels['io.buildah.version'];
  theirConfig.Labels = Object.keys(labels).length > 0 ? labels : null;
  expect(pick(ours.config)).toEqual(theirConfig);
}

describe(`RUN: differential against buildah (allowed differences: ${ALLOWED.join(', ')})`, () => {
  it('creates, modifies, deletes, replaces types, links, chmod and chown', { timeout: 240_000 }, async (t) => {
    if (!ready) return t.skip();
    await compare(
      'changes',
      `${BASE}RUN mkdir -p /d/sub /e /f && echo a > /d/a && echo b > /d/sub/b && echo keep > /e/keep && echo x > /f/x \\
 && echo old > /m && echo 1 > /del && echo t > /todir && mkdir /tolink && echo q > /tolink/q && chmod 600 /m \\
 && echo n1 > /n1 && ln /n1 /n2
RUN echo new >> /m && rm /del && rm -rf /d && mkdir /d && echo c > /d/c && rm /todir && mkdir /todir \\
 && rm -rf /tolink && ln -s /e /tolink && chmod 0750 /e && chown 1:2 /e/keep && echo y > /f/new \\
 && echo n3 > /n3 && ln /n3 /n4 && mkfifo /fifo 2>/dev/null; rm -f /fifo; chmod 4755 /n1
`,
      {},
      { copyUp: [['/n1', '/n2', 'file 0644 0:0 "n1\\n"']] },
    );
  });

  it('USER, WORKDIR, ENV, ARG, shell and exec forms', { timeout: 240_000 }, async (t) => {
    if (!ready) return t.skip();
    await compare(
      'user',
      `FROM scratch\nCOPY busybox /bin/busybox\nCOPY etc/ /etc/\nRUN ["/bin/busybox", "--install", "-s", "/bin"]
ARG VERSION=1.0
ENV APP_HOME=/srv/app
RUN mkdir -p $APP_HOME && chown 1000:1000 $APP_HOME
USER app
WORKDIR /srv/app
RUN id > id.txt && pwd > pwd.txt && echo "$VERSION $APP_HOME" > env.txt && touch owned && mkdir sub && umask > umask.txt
RUN echo "shell form with $APP_HOME" > shell.txt
RUN ["/bin/sh", "-c", "echo exec form > exec.txt"]
USER root
RUN chown -R 0:0 /srv/app/sub && chmod 700 /srv/app/sub
`,
      { 'etc/passwd': 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n', 'etc/group': 'root:x:0:\napp:x:1000:\n' },
    );
  });

  it('RUN --mount: bind from the context, tmpfs and cache leave nothing in the image', { timeout: 240_000 }, async (t) => {
    if (!ready) return t.skip();
    await compare(
      'mounts',
      `${BASE}RUN --mount=type=bind,source=data,target=/data cat /data/in.txt > /copied.txt
RUN --mount=type=tmpfs,target=/scratch echo t > /scratch/x && ls /scratch > /listed.txt
RUN --mount=type=cache,target=/var/cache/thing echo c > /var/cache/thing/c && ls /var/cache/thing > /cached.txt
`,
      { 'data/in.txt': 'input\n' },
      { stubs: ['/data', '/scratch', '/var', '/var/cache', '/var/cache/thing'] },
    );
  });
});
