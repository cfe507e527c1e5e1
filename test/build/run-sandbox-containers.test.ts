/**
 * Docker's container verbs over a store (`ContainerRuntime`): attached and
 * detached runs in the sandbox's namespaces, `exec` into a running
 * container, `ps`, `logs`, `stop`, a restart keeping the writable layer,
 * `commit` and `rm` — with nothing left running or mounted afterwards.
 */
import { existsSync } from 'node:fs';
import { copyFile, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ContainerRuntime } from '../../src/build/run/containers/index.js';
import { canUseSandbox, probeSandbox, sandboxExecutor } from '../../src/build/run/index.js';
import { ImageStore } from '../../src/image/store/store.js';
import { readTar } from '../../src/layers/tar/read.js';
import { buildText, tempDir, writeContext } from './helpers.js';

let ready = false;
let runtime: ContainerRuntime;
beforeAll(async () => {
  const reasons: string[] = [];
  if (!existsSync('/bin/busybox')) reasons.push('/bin/busybox missing (Debian package busybox-static)');
  if (!(await canUseSandbox())) reasons.push(`no sandbox: ${(await probeSandbox()).reason}`);
  else if (!(await probeSandbox()).overlay) reasons.push('containers need overlayfs');
  if (reasons.length > 0) {
    if (process.env.CI) throw new Error(reasons.join('; '));
    console.warn(`skipping container tests: ${reasons.join('; ')}`);
    return;
  }
  const store = new ImageStore(await tempDir('layerkit-containers-'));
  const context = await writeContext({ 'etc/passwd': 'root:x:0:0::/root:/bin/sh\n' });
  await copyFile('/bin/busybox', join(context, 'busybox'));
  await buildText('FROM scratch\nCOPY busybox /bin/busybox\nCOPY etc/ /etc/\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nENV GREETING=hello\nWORKDIR /srv\nCMD ["sh", "-c", "echo $GREETING from $(pwd)"]\n', {}, {
    executor: sandboxExecutor(),
    store,
    context,
    tags: 'busybox:containers',
  });
  runtime = new ContainerRuntime(store);
  ready = true;
});

async function mountTable(): Promise<string[]> {
  return (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter(Boolean).map((l) => l.split(' ')[4]!).sort();
}

async function processesWith(marker: string): Promise<number> {
  let n = 0;
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    if ((await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ').includes(marker)) n++;
  }
  return n;
}

describe('containers: docker run/exec/ps/logs/stop/rm without a daemon', () => {
  it('runs attached with the image config, streams output, returns the exit code', { timeout: 120_000 }, async (t) => {
    if (!ready) return t.skip();
    let output = '';
    const result = await runtime.run('busybox:containers', { rm: true, onOutput: (_s, c) => (output += Buffer.from(c).toString()) });
    expect(result.exitCode).toBe(0);
    expect(output).toBe('hello from /srv\n');
    const failed = await runtime.run('busybox:containers', { cmd: ['sh', '-c', 'echo bye >&2; exit 3'], env: ['GREETING=x'], rm: true });
    expect(failed.exitCode).toBe(3);
    expect((await runtime.ps({ all: true })).length).toBe(0);
  });

  it('detached: ps, exec, logs, stop, restart with the same writable layer, commit, rm', { timeout: 180_000 }, async (t) => {
    if (!ready) return t.skip();
    const mounts = await mountTable();
    const started = await runtime.run('busybox:containers', { detach: true, name: 'web', cmd: ['sh', '-c', 'echo started; exec sleep 4801'] });
    expect(started.status).toBe('running');
    expect(started.pid).toBeGreaterThan(1);
    expect((await runtime.ps()).map((c) => c.name)).toEqual(['web']);

    let out = '';
    const exec = await runtime.exec('web', ['sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "; echo; pwd; echo made > /srv/made.txt'], { onOutput: (_s, c) => (out += Buffer.from(c).toString()) });
    expect(exec.exitCode).toBe(0);
    expect(out).toBe('sleep 4801 \n/srv\n');
    for (let i = 0; i < 100 && !(await runtime.logs('web')).stdout.includes('started'); i++) await new Promise((r) => setTimeout(r, 50));
    expect((await runtime.logs('web')).stdout).toBe('started\n');

    const stopped = await runtime.stop('web', { timeoutMs: 500 });
    expect(stopped.status).toBe('exited');
    // sleep as pid 1 has no SIGTERM handler: killed after the timeout.
    expect(stopped.exitCode).toBe(137);
    expect(await processesWith('sleep 4801')).toBe(0);

    // A restart keeps the container's writable layer.
    await runtime.start('web');
    let again = '';
    await runtime.exec('web', ['cat', '/srv/made.txt'], { onOutput: (_s, c) => (again += Buffer.from(c).toString()) });
    expect(again).toBe('made\n');
    await runtime.stop('web', { timeoutMs: 0 });

    const layer = await runtime.commit('web', { sourceDateEpoch: 0 });
    const paths: string[] = [];
    for await (const m of readTar(layer.uncompressed())) paths.push(m.entry.path);
    expect(paths).toEqual(['/srv', '/srv/made.txt']);

    await runtime.rm('web');
    expect(await runtime.ps({ all: true })).toEqual([]);
    expect(await mountTable()).toEqual(mounts);
  });
});
