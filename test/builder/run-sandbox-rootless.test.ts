/**
 * The sandbox executor as a normal user: namespaces inside an unprivileged
 * user namespace that maps the caller to root, overlayfs with `userxattr`
 * (whiteouts and opaque directories as `user.overlay.*`), and the USER of a
 * step through a nested user namespace. When the tests run as root they
 * drop to `nobody` with `setpriv` to get there; a child Node process builds
 * and reports the layers as JSON.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundleForOthers } from '../support/bundle-for-others.js';
import { probeSandbox } from '../../src/sandbox/probe.js';
import { tempDir, which } from './helpers.js';

const repo = resolve(fileURLToPath(new URL('../..', import.meta.url)));

const CHILD = `
import { build } from ${JSON.stringify(join(repo, 'src/builder/build.ts'))};
import { sandboxExecutor, probeSandbox } from ${JSON.stringify(join(repo, 'src/sandbox/index.ts'))};
import { sandboxIds } from ${JSON.stringify(join(repo, 'src/sandbox/id-map.ts'))};
import { readTar } from ${JSON.stringify(join(repo, 'src/layers/tar/read.ts'))};
const [context, store, strategy] = process.argv.slice(2);
const caps = await probeSandbox();
const output = [];
const result = await build({
  context, store, dockerfile: 'Dockerfile', executor: sandboxExecutor({ strategy }), sourceDateEpoch: 0, xattrs: false,
  onEvent: (e) => { if (e.type === 'output') output.push(Buffer.from(e.chunk).toString()); },
});
const layers = [];
for (const layer of (await result.image.layers()).slice(3)) {
  const members = [];
  for await (const m of readTar(layer.uncompressed())) members.push(\`\${m.entry.path} \${m.entry.type} \${m.entry.mode.toString(8)} \${m.entry.uid}:\${m.entry.gid}\`);
  layers.push(members);
}
const ids = await sandboxIds(caps);
console.log(JSON.stringify({ uid: process.getuid(), caps: { rootless: caps.rootless, overlay: caps.overlay }, subordinateIds: ids?.map !== undefined, layers, output: output.join('') }));
`;

const DOCKERFILE = `FROM scratch
COPY busybox /bin/busybox
COPY etc/ /etc/
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir /d && echo x > /d/x && echo keep > /keep && chmod 500 /d && id -u
RUN rm -rf /d && echo y > /y && echo more >> /keep && (chown 1000 /y 2>/dev/null || echo no-chown)
USER app
WORKDIR /home/app
RUN id -u && touch mine
`;

let ready = false;
let dir = '';
let asUser: string[] = [];
let script = '';
beforeAll(async () => {
  const reasons: string[] = [];
  if (!existsSync('/bin/busybox')) reasons.push('/bin/busybox missing (Debian package busybox-static)');
  if (process.getuid?.() === 0 && !(await which('setpriv'))) reasons.push('setpriv missing (util-linux)');
  // The sandbox's tools (util-linux, attr, …) and namespaces are the same for every user.
  const probe = await probeSandbox();
  if (!probe.available) reasons.push(`no sandbox: ${probe.reason}`);
  if (reasons.length > 0) {
    if (process.env.CI) throw new Error(reasons.join('; '));
    console.warn(`skipping rootless tests: ${reasons.join('; ')}`);
    return;
  }
  dir = await tempDir('layerkit-rootless-');
  await chmod(dir, 0o777);
  const context = join(dir, 'context');
  await mkdir(join(context, 'etc'), { recursive: true });
  await copyFile('/bin/busybox', join(context, 'busybox'));
  await writeFile(join(context, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n');
  await writeFile(join(context, 'etc/group'), 'root:x:0:\napp:x:1000:\n');
  await writeFile(join(context, 'Dockerfile'), DOCKERFILE);
  // nobody may not be able to read the checkout: it runs a bundle in the world-readable dir.
  script = await bundleForOthers(dir, 'child', CHILD);
  for (const sub of ['store-overlay', 'store-copy']) {
    await mkdir(join(dir, sub));
    await chmod(join(dir, sub), 0o777);
  }
  asUser = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'] : [];
  ready = true;
});

interface ChildReport {
  uid: number;
  caps: { rootless: boolean; overlay: boolean };
  /** The caller has subordinate ids (then chown works; see test/sandbox/rootless-ids.test.ts). */
  subordinateIds: boolean;
  layers: string[][];
  output: string;
}

function child(strategy: 'overlay' | 'copy'): Promise<ChildReport> {
  const argv = [...asUser, process.execPath, script, join(dir, 'context'), join(dir, `store-${strategy}`), strategy];
  return new Promise((resolvePromise, reject) => {
    execFile(argv[0]!, argv.slice(1), { cwd: dir, env: { ...process.env, HOME: dir, TMPDIR: dir }, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`));
      else resolvePromise(JSON.parse(stdout.trim().split('\n').pop()!) as ChildReport);
    });
  });
}

describe('sandbox executor as a normal user (user namespace)', () => {
  for (const strategy of ['overlay', 'copy'] as const) {
    it(`builds with the ${strategy} strategy: the caller is root inside, owners come out right`, { timeout: 180_000 }, async (t) => {
      if (!ready) return t.skip();
      const report = await child(strategy);
      expect(report.uid).not.toBe(0);
      expect(report.caps.rootless).toBe(true);
      // RUN as root inside the namespace, USER app through a nested one.
      // Without subordinate ids (nobody) chown to another id fails; with them it works.
      expect(report.output).toBe(report.subordinateIds ? '0\n1000\n' : '0\nno-chown\n1000\n');
      expect(report.layers[0]).toEqual(['/d dir 500 0:0', '/d/x file 644 0:0', '/keep file 644 0:0']);
      // A whiteout for /d (a user.overlay whiteout or a 0/0 device in the upperdir); /keep copied up keeps its owner.
      expect(report.layers[1]).toEqual(['/.wh.d file 600 0:0', '/keep file 644 0:0', `/y file 644 ${report.subordinateIds ? '1000:0' : '0:0'}`]);
      // WORKDIR made /home and /home/app for app (BuildKit chowns every directory it creates); the RUN's parents keep that.
      expect(report.layers.at(-1)).toEqual(['/home dir 755 1000:1000', '/home/app dir 755 1000:1000', '/home/app/mine file 644 1000:1000']);
    });
  }
});
