/**
 * Images written with `output` read by real tools: skopeo inspects and
 * copies them, umoci unpacks them into the expected tree.
 */
import { lstat, readFile, readlink, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildText, exec, requireTool, tempDir } from './helpers.js';

let tools = { skopeo: false, umoci: false };
beforeAll(async () => {
  tools = { skopeo: await requireTool('skopeo'), umoci: await requireTool('umoci') };
});

const dockerfile = [
  'FROM scratch AS base',
  'COPY --chown=1000:1000 app /app',
  'WORKDIR /data',
  'FROM base',
  'COPY --chmod=0755 tool.sh /usr/local/bin/tool',
  'COPY <<EOF /etc/motd',
  'hello',
  'EOF',
  'ENV MODE=prod',
  'ENTRYPOINT ["/usr/local/bin/tool"]',
].join('\n');
const files = { 'app/index.js': 'console.log(1)\n', 'app/lib/util.js': 'x', 'app/current': { symlink: 'lib' }, 'tool.sh': '#!/bin/sh\necho tool\n' };

async function walk(root: string, rel = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(join(root, rel))).sort()) {
    const path = rel === '' ? name : `${rel}/${name}`;
    const info = await lstat(join(root, path));
    const mode = (info.mode & 0o7777).toString(8).padStart(4, '0');
    if (info.isSymbolicLink()) out[path] = `symlink ${info.uid}:${info.gid} -> ${await readlink(join(root, path))}`;
    else if (info.isDirectory()) {
      out[path] = `dir ${mode} ${info.uid}:${info.gid}`;
      Object.assign(out, await walk(root, path));
    } else out[path] = `file ${mode} ${info.uid}:${info.gid} ${(await readFile(join(root, path), 'utf8')).length}`;
  }
  return out;
}

const expectedTree = {
  app: 'dir 0755 1000:1000',
  'app/current': 'symlink 1000:1000 -> lib',
  'app/index.js': 'file 0644 1000:1000 15',
  'app/lib': 'dir 0755 1000:1000',
  'app/lib/util.js': 'file 0644 1000:1000 1',
  data: 'dir 0755 0:0',
  etc: 'dir 0755 0:0',
  'etc/motd': 'file 0644 0:0 6',
  usr: 'dir 0755 0:0',
  'usr/local': 'dir 0755 0:0',
  'usr/local/bin': 'dir 0755 0:0',
  'usr/local/bin/tool': 'file 0755 0:0 20',
};

describe('interop with skopeo and umoci', () => {
  it('type=oci directory: skopeo inspect, umoci unpack gives the tree', async (ctx) => {
    if (!tools.skopeo || !tools.umoci) return ctx.skip();
    const dir = await tempDir();
    const layout = join(dir, 'layout');
    const result = await buildText(dockerfile, files, { output: `type=oci,dest=${layout},tar=false,name=interop:v1` });
    const { stdout } = await exec('skopeo', ['inspect', `oci:${layout}:v1`]);
    const inspect = JSON.parse(stdout) as { Digest: string; Layers: string[]; Env: string[] };
    expect(inspect.Digest).toBe(result.digest);
    expect(inspect.Layers).toEqual((await result.image.manifest()).layers.map((l) => l.digest));
    expect(inspect.Env).toContain('MODE=prod');
    const bundle = join(dir, 'bundle');
    await exec('umoci', ['raw', 'unpack', '--rootless', '--image', `${layout}:v1`, bundle]);
    const tree = await walk(bundle);
    // Rootless unpack cannot chown: owners come out as the current user.
    const uid = process.getuid?.() ?? 0;
    const owners = (s: string) => s.replace(/ \d+:\d+/, '');
    expect(Object.fromEntries(Object.entries(tree).map(([k, v]) => [k, owners(v)]))).toEqual(
      Object.fromEntries(Object.entries(expectedTree).map(([k, v]) => [k, owners(v)])),
    );
    if (uid === 0) {
      const rooted = join(dir, 'rooted');
      await exec('umoci', ['raw', 'unpack', '--image', `${layout}:v1`, rooted]);
      expect(await walk(rooted)).toEqual(expectedTree);
    }
  });

  it('type=oci tar and type=docker archive load with skopeo copy', async (ctx) => {
    if (!tools.skopeo) return ctx.skip();
    const dir = await tempDir();
    const result = await buildText(dockerfile, files, {
      tags: ['interop:v2'],
      output: [`type=oci,dest=${join(dir, 'image.tar')}`, `type=docker,dest=${join(dir, 'docker.tar')}`],
    });
    await exec('skopeo', ['copy', `oci-archive:${join(dir, 'image.tar')}:v2`, `oci:${join(dir, 'from-oci-tar')}:x`]);
    await exec('skopeo', ['copy', `docker-archive:${join(dir, 'docker.tar')}`, `oci:${join(dir, 'from-docker')}:x`]);
    const { stdout } = await exec('skopeo', ['inspect', '--config', `oci:${join(dir, 'from-docker')}:x`]);
    const config = JSON.parse(stdout) as { rootfs: { diff_ids: string[] }; config: { Entrypoint: string[] } };
    expect(config.rootfs.diff_ids).toEqual((await result.image.config()).rootfs.diff_ids);
    expect(config.config.Entrypoint).toEqual(['/usr/local/bin/tool']);
    const copied = await exec('skopeo', ['inspect', `oci:${join(dir, 'from-oci-tar')}:x`]);
    expect((JSON.parse(copied.stdout) as { Digest: string }).Digest).toBe(result.digest);
  });
});
