/**
 * The sandbox executor end to end through the public `build()`: a real
 * busybox base image (Debian's busybox-static, `FROM scratch` + COPY +
 * `busybox --install`), RUN steps executed as real processes, and the
 * layers they produce checked member by member. Both strategies (overlay
 * and copy) must give the same diffIDs.
 */
import { existsSync } from 'node:fs';
import { copyFile, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BuildError, RunFailedError } from '../../src/builder/errors.js';
import type { BuildOptions } from '../../src/builder/options.js';
import { extractionStats } from '../../src/sandbox/extracted.js';
import { SandboxError, probeSandbox, sandboxExecutor } from '../../src/sandbox/index.js';
import { sandboxIds } from '../../src/sandbox/id-map.js';
import type { Image } from '../../src/image/image.js';
import { ImageStore } from '../../src/image/store/store.js';
import { buildText, type FileSpec, layerMembers, readText, rootfs, sandboxReady, tempDir, writeContext } from './helpers.js';

const BUSYBOX = '/bin/busybox';
/** The base image, built once per file into {@link store} and tagged. */
const BASE_DOCKERFILE = 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n';
const BASE = 'FROM busybox:sandbox-test\n';
/** Layers of the base image: the RUN layers of a test start at this index. */
const B = 2;

let ready = false;
let store: ImageStore;
/** Rootless without subordinate ids (only the caller's id mapped): why chown and supplementary groups cannot work. */
let noIds: string | undefined;
beforeAll(async () => {
  if (!(await sandboxReady('sandbox tests'))) return;
  const ids = await sandboxIds(await probeSandbox());
  if (ids && !ids.map) noIds = ids.reason;
  store = new ImageStore(await tempDir('layerkit-run-store-'));
  await buildText(BASE_DOCKERFILE, {}, { executor: sandboxExecutor(), store, context: await context(), tags: 'busybox:sandbox-test' });
  ready = true;
});

/** True (and the reason printed) when a test needs other ids than the caller's and the rootless sandbox has none. */
function needsIds(name: string): boolean {
  if (noIds === undefined) return false;
  console.warn(`skipping "${name}": it needs ids other than the caller's in the rootless sandbox: ${noIds} (see docs/run.md)`);
  return true;
}

/** A context holding busybox plus `files`. */
async function context(files: Record<string, FileSpec> = {}): Promise<string> {
  const dir = await writeContext(files);
  await copyFile(BUSYBOX, join(dir, 'busybox'));
  return dir;
}

async function sandboxBuild(dockerfile: string, options: BuildOptions & { files?: Record<string, FileSpec> } = {}) {
  const { files, ...rest } = options;
  // noCache: every RUN must really run (the store is shared by the tests of this file).
  return buildText(dockerfile, {}, { executor: sandboxExecutor(), store, noCache: true, ...rest, context: rest.context ?? (await context(files)) });
}

/** Members of layer `index` as `path → description` (whiteouts and markers included). */
async function describeLayer(image: Image, index: number): Promise<Record<string, string>> {
  const layer = (await image.layers())[index]!;
  const out: Record<string, string> = {};
  for (const m of await layerMembers(layer)) {
    const link = m.linkname === undefined ? '' : ` -> ${m.linkname}`;
    const text = m.type === 'file' && m.text !== undefined && m.text.length < 64 ? ` ${JSON.stringify(m.text)}` : '';
    out[m.path] = `${m.type} ${m.mode.toString(8).padStart(4, '0')} ${m.uid}:${m.gid}${link}${text}`;
  }
  return out;
}

async function diffIds(image: Image): Promise<string[]> {
  return (await image.config()).rootfs.diff_ids;
}

const CHANGES = `${BASE}RUN mkdir -p /d/sub /e /f && echo a > /d/a && echo b > /d/sub/b && echo keep > /e/keep && echo x > /f/x \\
 && echo old > /m && echo 1 > /del && echo t > /todir && mkdir /tolink && echo q > /tolink/q && echo h > /h1 && chmod 600 /m
RUN echo new >> /m && rm /del && rm -rf /d && mkdir /d && echo c > /d/c && rm /todir && mkdir /todir \\
 && rm -rf /tolink && ln -s /e /tolink && ln /h1 /h2 && chmod 0750 /e && chown 1:2 /e/keep && echo y > /f/new
`;

describe('sandbox executor: RUN as a real process', () => {
  it('runs busybox --install as the base image and records what RUNs create, modify and delete', async (t) => {
    if (!ready || needsIds(t.task.name)) return t.skip();
    const result = await sandboxBuild(CHANGES, { executor: sandboxExecutor({ strategy: 'overlay' }) });
    const layers = await result.image.layers();
    expect(layers).toHaveLength(B + 2);
    // busybox --install -s: symlinks to /bin/busybox, nothing else (no mount-point stubs).
    const install = await describeLayer(result.image, 1);
    expect(install['/bin/sh']).toBe('symlink 0777 0:0 -> /bin/busybox');
    expect(Object.keys(install).filter((p) => !p.startsWith('/bin'))).toEqual([]);

    const change = await describeLayer(result.image, B + 1);
    expect(change).toMatchObject({
      '/m': 'file 0600 0:0 "old\\nnew\\n"',
      '/.wh.del': 'file 0600 0:0 ""',
      '/d': expect.stringMatching(/^dir 0755 0:0/),
      '/d/.wh..wh..opq': 'file 0600 0:0 ""',
      '/d/c': 'file 0644 0:0 "c\\n"',
      '/todir': expect.stringMatching(/^dir 0755/),
      '/tolink': 'symlink 0777 0:0 -> /e',
      '/h1': 'file 0644 0:0 "h\\n"',
      '/h2': 'hardlink 0644 0:0 -> /h1',
      '/e': 'dir 0750 0:0',
      '/e/keep': 'file 0644 1:2 "keep\\n"',
      '/f': expect.stringMatching(/^dir 0755/),
      '/f/new': 'file 0644 0:0 "y\\n"',
    });
    // Unchanged files stay out; so do the sandbox's mount points and the deleted subtrees.
    // A directory that replaced a file hides nothing: no opaque marker.
    for (const path of ['/todir/.wh..wh..opq', '/f/x', '/d/a', '/d/sub', '/tolink/q', '/proc', '/dev', '/sys', '/etc', '/etc/hosts', '/etc/resolv.conf']) expect(change).not.toHaveProperty(path);

    const tree = await rootfs(result.image);
    expect(await readText(tree, '/m')).toBe('old\nnew\n');
    expect(tree.has('/del')).toBe(false);
    expect(tree.readdir('/d')).toEqual(['c']);
    expect(tree.get('/tolink')?.type).toBe('symlink');
    expect(tree.hardlinks('/h1').sort()).toEqual(['/h1', '/h2']);
  });

  it('gives the same layers with the overlay and the copy strategy', async (t) => {
    if (!ready || needsIds(t.task.name)) return t.skip();
    const ctx = await context();
    const overlay = await sandboxBuild(CHANGES, { context: ctx, executor: sandboxExecutor({ strategy: 'overlay' }) });
    const copy = await sandboxBuild(CHANGES, { context: ctx, executor: sandboxExecutor({ strategy: 'copy' }) });
    expect(await diffIds(copy.image)).toEqual(await diffIds(overlay.image));
  });

  it('fails with the exit code and the tail of the output', async (t) => {
    if (!ready) return t.skip();
    const err = await sandboxBuild(`${BASE}RUN echo first line && echo boom >&2 && exit 3\n`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunFailedError);
    const failed = err as RunFailedError;
    expect(failed.data.exitCode).toBe(3);
    expect(failed.data.command).toEqual(['/bin/sh', '-c', 'echo first line && echo boom >&2 && exit 3']);
    expect(failed.data.outputTail).toContain('first line');
    expect(failed.data.outputTail).toContain('boom');
    expect(failed.data.line).toBe(2);
    expect(failed.format()).toContain('exit code: 3');
    // A command that does not exist.
    const missing = await sandboxBuild(`${BASE}RUN ["/no/such/program"]\n`).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(RunFailedError);
    expect((missing as RunFailedError).data.outputTail).toContain('/no/such/program');
  });

  it('honours USER (with supplementary groups), WORKDIR, ENV and build args', async (t) => {
    if (!ready || needsIds(t.task.name)) return t.skip();
    // /etc/passwd comes by COPY; the builder reads the stage's users again after each new layer.
    const result = await sandboxBuild(
      `${BASE}COPY etc/ /etc/
ARG GREETING=hello
ENV TARGET=world
USER app
WORKDIR /work
RUN id > id.txt && pwd > pwd.txt && echo "$GREETING $TARGET" > env.txt && touch owned
WORKDIR /made
USER root
RUN cd / && rmdir /made
USER app
RUN pwd > /work/pwd2.txt
`,
      {
        buildArgs: { GREETING: 'hi' },
        files: { 'etc/passwd': 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n', 'etc/group': 'root:x:0:\napp:x:1000:\nextra:x:2000:app\n' },
      },
    );
    const tree = await rootfs(result.image);
    // The supplementary groups are the builder's (step.user.additionalGids): the primary group, then those listing app.
    expect(await readText(tree, '/work/id.txt')).toBe('uid=1000(app) gid=1000(app) groups=1000(app),2000(extra)\n');
    expect(await readText(tree, '/work/pwd.txt')).toBe('/work\n');
    expect(await readText(tree, '/work/env.txt')).toBe('hi world\n');
    expect(tree.get('/work/owned')).toMatchObject({ uid: 1000, gid: 1000 });
    // The workdir deleted by a RUN is made again (owned by the user) for the next, as BuildKit does.
    expect(await readText(tree, '/work/pwd2.txt')).toBe('/made\n');
    expect(tree.get('/made')).toMatchObject({ type: 'dir', uid: 1000, gid: 1000, mode: 0o755 });
  });

  it('a user added by a RUN is the USER of the next RUN: id shows its uid, its primary group and its groups', async (t) => {
    if (!ready || needsIds(t.task.name)) return t.skip();
    // What `adduser -D -u 1234 app && addgroup app builders` writes (Debian's busybox-static has no adduser applet).
    const result = await sandboxBuild(
      `${BASE}COPY etc/ /etc/
RUN mkdir -m 1777 /tmp && echo 'app:x:1234:1234::/home/app:/bin/sh' >> /etc/passwd \\
 && printf 'app:x:1234:\\nbuilders:x:3000:app\\n' >> /etc/group
USER app
RUN id > /tmp/id.txt && id -G > /tmp/gids.txt
`,
      { files: { 'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n', 'etc/group': 'root:x:0:\n' } },
    );
    const tree = await rootfs(result.image);
    const gid = '1234';
    // The primary group is among the groups (as docker run and BuildKit show it), then the group that lists app.
    expect(await readText(tree, '/tmp/id.txt')).toBe(`uid=1234(app) gid=${gid}(app) groups=${gid}(app),3000(builders)\n`);
    expect(await readText(tree, '/tmp/gids.txt')).toBe(`${gid} 3000\n`);
    expect(tree.get('/tmp/id.txt')).toMatchObject({ uid: 1234, gid: Number(gid) });
  });

  it('provides /etc/hosts, resolv.conf, hostname, /proc and /dev, and keeps them out of the layer', async (t) => {
    if (!ready) return t.skip();
    const result = await sandboxBuild(
      `${BASE}RUN cat /etc/hosts > /hosts.txt && hostname > /hostname.txt && cat /proc/self/status | grep -c ^Pid > /proc.txt \\
 && echo 1 > /dev/null && head -c 4 /dev/zero | wc -c > /dev.txt && ls /dev/pts /dev/shm >/dev/null && test -s /etc/resolv.conf && echo $$ > /pid.txt
`,
    );
    const tree = await rootfs(result.image);
    expect(await readText(tree, '/hosts.txt')).toBe('127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n');
    expect(await readText(tree, '/hostname.txt')).toBe('buildkitsandbox\n');
    expect(await readText(tree, '/proc.txt')).toBe('1\n');
    expect((await readText(tree, '/dev.txt'))?.trim()).toBe('4');
    // The command is pid 1 of its own pid namespace.
    expect(await readText(tree, '/pid.txt')).toBe('1\n');
    const paths = Object.keys(await describeLayer(result.image, B));
    expect(paths.filter((p) => /^\/(etc|proc|dev|sys|run)(\/|$)/.test(p))).toEqual([]);
  });

  it('runs heredocs: a script with a shebang as a file, others through the shell', async (t) => {
    if (!ready) return t.skip();
    const result = await sandboxBuild(`${BASE}RUN <<EOF
echo plain > /plain.txt
echo "$0" > /shell.txt
EOF
RUN <<EOF
#!/bin/sh
echo "$0" > /script.txt
EOF
`);
    const tree = await rootfs(result.image);
    expect(await readText(tree, '/plain.txt')).toBe('plain\n');
    expect(await readText(tree, '/shell.txt')).toBe('/bin/sh\n');
    expect(await readText(tree, '/script.txt')).toBe('/dev/pipes/EOF\n');
    expect(Object.keys(await describeLayer(result.image, B + 1)).filter((p) => p.startsWith('/dev'))).toEqual([]);
  });

  it('--network=none has only the loopback interface, up; --network=host (allowed) shares the host network', async (t) => {
    if (!ready) return t.skip();
    const result = await sandboxBuild(
      `${BASE}RUN --network=none tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' > /none.txt && cat /sys/class/net/lo/operstate > /lo.txt
RUN --network=host tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort > /host.txt
`,
      { allow: ['network.host'] },
    );
    const tree = await rootfs(result.image);
    expect(await readText(tree, '/none.txt')).toBe('lo\n');
    expect(['unknown\n', 'up\n']).toContain(await readText(tree, '/lo.txt'));
    const host = (await readFile('/proc/net/dev', 'utf8')).split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter(Boolean).sort();
    expect(await readText(tree, '/host.txt')).toBe(host.join('\n') + '\n');
  });
});

describe('sandbox executor: RUN --mount', () => {
  it('keeps secrets out of every layer and of the history; the file is gone after the step', async (t) => {
    if (!ready) return t.skip();
    const secret = 'top-secret-value-4711';
    const result = await sandboxBuild(
      `${BASE}RUN --mount=type=secret,id=token wc -c < /run/secrets/token > /len.txt && ls -l /run/secrets/token | cut -c1-10 > /mode.txt
RUN --mount=type=secret,id=token,target=/opt/tok,mode=0444 cat /opt/tok | wc -c > /len2.txt
RUN ls /run/secrets > /after.txt 2>&1 || echo none > /after.txt
`,
      { secrets: { token: new TextEncoder().encode(secret) } },
    );
    const tree = await rootfs(result.image);
    expect((await readText(tree, '/len.txt'))?.trim()).toBe(String(secret.length));
    expect(await readText(tree, '/mode.txt')).toBe('-r--------\n');
    expect((await readText(tree, '/len2.txt'))?.trim()).toBe(String(secret.length));
    expect(await readText(tree, '/after.txt')).toBe('none\n');
    for (const layer of await result.image.layers()) {
      const chunks: Uint8Array[] = [];
      for await (const chunk of layer.uncompressed()) chunks.push(chunk);
      const bytes = Buffer.concat(chunks);
      expect(bytes.includes(secret)).toBe(false);
      expect(bytes.includes('run/secrets')).toBe(false);
      expect(bytes.includes('opt/tok')).toBe(false);
    }
    expect(JSON.stringify(await result.image.config())).not.toContain(secret);
  });

  it('persists cache mounts across builds in the store, and keeps them out of layers', async (t) => {
    if (!ready) return t.skip();
    const ctx = await context();
    const dockerfile = `${BASE}RUN --mount=type=cache,target=/cache echo run >> /cache/log && cat /cache/log > /seen.txt\n`;
    await sandboxBuild(dockerfile, { context: ctx });
    const second = await sandboxBuild(dockerfile, { context: ctx });
    expect(await readText(await rootfs(second.image), '/seen.txt')).toBe('run\nrun\n');
    expect(Object.keys(await describeLayer(second.image, B))).toEqual(['/seen.txt']);
    // Locked sharing and an id shared between targets.
    const third = await sandboxBuild(`${BASE}RUN --mount=type=cache,id=/cache,target=/other,sharing=locked cat /other/log > /seen.txt\n`, { context: ctx });
    expect(await readText(await rootfs(third.image), '/seen.txt')).toBe('run\nrun\n');
  });

  it('binds context directories read-only (rw: writes discarded) and mounts tmpfs', async (t) => {
    if (!ready) return t.skip();
    const ctx = await context({ 'data/f.txt': 'from context\n' });
    const result = await sandboxBuild(
      `${BASE}RUN --mount=type=bind,source=data,target=/data cat /data/f.txt > /copy.txt && (touch /data/new 2>/dev/null && echo writable || echo read-only) > /ro.txt
RUN --mount=type=bind,source=data,target=/data,rw echo changed > /data/f.txt && cat /data/f.txt > /rw.txt
RUN --mount=type=tmpfs,target=/scratch echo temp > /scratch/t && cat /scratch/t > /tmpfs.txt
`,
      { context: ctx },
    );
    const tree = await rootfs(result.image);
    expect(await readText(tree, '/copy.txt')).toBe('from context\n');
    expect(await readText(tree, '/ro.txt')).toBe('read-only\n');
    expect(await readText(tree, '/rw.txt')).toBe('changed\n');
    expect(await readText(tree, '/tmpfs.txt')).toBe('temp\n');
    expect(await readFile(join(ctx, 'data/f.txt'), 'utf8')).toBe('from context\n');
    expect(existsSync(join(ctx, 'data/new'))).toBe(false);
    for (const p of ['/data', '/scratch']) expect(tree.has(p)).toBe(false);
  });

  it('binds from another stage, refuses a context source outside the context, and mounts type=ssh only with an agent', async (t) => {
    if (!ready) return t.skip();
    const result = await sandboxBuild(`${BASE}RUN mkdir /out && echo built > /out/artifact
FROM scratch AS final
COPY busybox /bin/busybox
RUN --mount=type=bind,from=0,source=/out,target=/in ["/bin/busybox", "cp", "/in/artifact", "/artifact"]
`);
    expect(await readText(await rootfs(result.image), '/artifact')).toBe('built\n');
    const outside = await sandboxBuild(`${BASE}RUN --mount=type=bind,source=escape,target=/x true\n`, { files: { escape: { symlink: '/etc' } } }).catch((e: unknown) => e);
    expect(outside).toBeInstanceOf(SandboxError);
    expect((outside as SandboxError).code).toBe('MOUNT_SOURCE_INVALID');
    // type=ssh without an agent for its id: no mount (BuildKit), or an error when required.
    await sandboxBuild(`${BASE}RUN --mount=type=ssh ["/bin/busybox", "true"]\n`);
    const ssh = await sandboxBuild(`${BASE}RUN --mount=type=ssh,required=true true\n`).catch((e: unknown) => e);
    expect((ssh as BuildError).code).toBe('INVALID_OPTION');
  });
});

describe('sandbox executor: the store and clean-up', () => {
  it('extracts each lower layer once per store and reuses it across builds and steps', async (t) => {
    if (!ready) return t.skip();
    const own = new ImageStore(await tempDir('layerkit-run-store-'));
    const ctx = await context();
    const before = { ...extractionStats };
    await sandboxBuild(`${BASE_DOCKERFILE}RUN echo 1 > /one\nRUN echo 2 > /two\n`, { store: own, context: ctx });
    // busybox layer, install layer, /one layer: each extracted exactly once.
    expect(extractionStats.extracted - before.extracted).toBe(3);
    const dir = join(own.root, 'layers-extracted');
    const names = (await readdir(dir)).filter((n) => !n.startsWith('.'));
    expect(names).toHaveLength(3);
    const inodes = await Promise.all(names.map(async (n) => (await stat(join(dir, n))).ino));
    const again = { ...extractionStats };
    await sandboxBuild(`${BASE_DOCKERFILE}RUN echo 1 > /one\nRUN echo 3 > /three\n`, { store: own, context: ctx });
    expect(extractionStats.extracted - again.extracted).toBe(0);
    expect(extractionStats.reused - again.reused).toBeGreaterThanOrEqual(3);
    expect(await Promise.all(names.map(async (n) => (await stat(join(dir, n))).ino))).toEqual(inodes);
    // Step directories are gone.
    expect(await readdir(join(own.root, 'tmp'))).toEqual([]);
  });
});
