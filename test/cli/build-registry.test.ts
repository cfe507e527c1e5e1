// `layerkit build` with a registry: FROM a registry image, --push, -o
// type=registry / type=image,push=true, --pull, --platform lists, registry
// caches, and the errors a user meets.
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/io.js';
import { hostPlatform } from '../../src/image/platform.js';
import { RegistryClient } from '../../src/registry/index.js';
import { hasRegistry, startRegistry, type RunningRegistry as TestRegistry } from '../registry/helpers.js';

async function run(argv: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), readText: (p) => readFile(p, 'utf8') };
  const status = await main(argv, io);
  return { status, stdout, stderr };
}

const enabled = hasRegistry();
const describeRegistry = describe.runIf(enabled);

describeRegistry('layerkit build with a registry', () => {
  let registry: TestRegistry;
  let work: string;

  beforeAll(async () => {
    registry = await startRegistry();
    work = await mkdtemp(join(tmpdir(), 'lk-cli-registry-'));
    await mkdir(join(work, 'base'));
    await writeFile(join(work, 'base', 'Dockerfile'), 'FROM scratch\nCOPY os-release /etc/os-release\nCMD ["/bin/app"]\n');
    await writeFile(join(work, 'base', 'os-release'), 'ID=cli\n');
    await mkdir(join(work, 'app'));
    await writeFile(join(work, 'app', 'Dockerfile'), 'ARG BASE\nFROM $BASE\nCOPY app.txt /srv/\n');
    await writeFile(join(work, 'app', 'app.txt'), 'app\n');
  }, 30_000);

  afterAll(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('--push with -t pushes; FROM the pushed image in an empty store pulls it; -o type=registry and type=image,push=true', async () => {
    const base = `${registry.host}/cli/base:1`;
    const pushed = await run(['build', '--store', join(work, 's1'), '--source-date-epoch', '0', '--progress', 'plain', '-t', base, '--push', join(work, 'base')]);
    expect(pushed.status, pushed.stderr).toBe(0);
    const digest = /^digest (sha256:[a-f0-9]{64})$/m.exec(pushed.stdout)![1]!;
    expect(pushed.stdout).toContain(`pushed ${base} ${digest}`);
    expect(pushed.stderr).toMatch(/pushing/);
    expect((await new RegistryClient().getManifest(base)).digest).toBe(digest);
    const inspect = await run(['inspect', '--store', join(work, 's1'), base]);
    expect(JSON.parse(inspect.stdout)[0].RepoDigests).toEqual([`${registry.host}/cli/base@${digest}`]);

    const app = join(work, 'app');
    for (const output of [`type=registry,name=${registry.host}/cli/app:reg`, `type=image,name=${registry.host}/cli/app:img,push=true`]) {
      const built = await run(['build', '--store', join(work, 's2'), '--source-date-epoch', '0', '--progress', 'quiet', '--build-arg', `BASE=${base}`, '-o', output, app]);
      expect(built.status, built.stderr).toBe(0);
    }
    const reg = await new RegistryClient().getImage(`${registry.host}/cli/app:reg`);
    const img = await new RegistryClient().getImage(`${registry.host}/cli/app:img`);
    expect(await reg.digest()).toBe(await img.digest());
    expect((await reg.config()).config?.Cmd).toEqual(['/bin/app']);
  }, 90_000);

  it('--platform with two platforms pushes an index; without a push it is a clear error', async () => {
    const ref = `${registry.host}/cli/multi:1`;
    const both = await run(['build', '--store', join(work, 's3'), '--progress', 'quiet', '--platform', 'linux/amd64,linux/arm64', '-t', ref, '--push', join(work, 'base')]);
    expect(both.status, both.stderr).toBe(0);
    const images = await new RegistryClient().getImages(ref);
    expect(images.map((i) => `${i.platform.os}/${i.platform.architecture}`)).toEqual(['linux/amd64', 'linux/arm64']);
    const local = await run(['build', '--store', join(work, 's3'), '--platform', 'linux/amd64,linux/arm64', join(work, 'base')]);
    expect(local.status).toBe(1);
    expect(local.stderr).toMatch(/multi-platform build needs a push/);
  }, 90_000);

  it('RUN for a foreign platform fails with FOREIGN_PLATFORM_RUN and the line', async () => {
    const foreign = hostPlatform().architecture === 'arm64' ? 'linux/amd64' : 'linux/arm64';
    await mkdir(join(work, 'run'), { recursive: true });
    await writeFile(join(work, 'run', 'Dockerfile'), 'FROM scratch\nRUN ["/bin/true"]\n');
    const result = await run(['build', '--store', join(work, 's4'), '--progress', 'quiet', '--platform', foreign, join(work, 'run')]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(':2:1:');
    expect(result.stderr).toContain('emulation is not supported');
    expect(result.stderr).toContain(foreign);
  }, 30_000);

  it('--cache-to/--cache-from type=registry: a fresh store rebuilds with every step cached', async () => {
    const cache = `${registry.host}/cli/cache:1`;
    const first = await run(['build', '--store', join(work, 's5'), '--source-date-epoch', '0', '--progress', 'quiet', '--cache-to', `type=registry,ref=${cache},mode=max`, join(work, 'base')]);
    expect(first.status, first.stderr).toBe(0);
    const second = await run(['build', '--store', join(work, 's6'), '--source-date-epoch', '0', '--cache-from', `type=registry,ref=${cache}`, join(work, 'base')]);
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toContain('2 steps, 2 cached');
    expect(second.stdout.split('\n')[0]).toBe(`built ${first.stdout.trim()}`);
  }, 60_000);

  it('a base missing everywhere names the image; --platform with an empty entry is bad usage', async () => {
    await mkdir(join(work, 'missing'), { recursive: true });
    await writeFile(join(work, 'missing', 'Dockerfile'), `FROM ${registry.host}/cli/nosuch:1\n`);
    const missing = await run(['build', '--store', join(work, 's7'), '--progress', 'quiet', join(work, 'missing')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain(`${registry.host}/cli/nosuch:1`);
    expect(missing.stderr).toContain('neither in the local store nor in its registry');
    const usage = await run(['build', '--platform', 'linux/amd64,', join(work, 'base')]);
    expect(usage.status).toBe(2);
  }, 30_000);
});
