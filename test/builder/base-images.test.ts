import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseBaseReference } from '../../src/builder/base-image.js';
import { BuildError } from '../../src/builder/errors.js';
import { buildText, readText, rootfs, tempDir, treeSummary, writeContext } from './helpers.js';

describe('base images', () => {
  it('parses the reference syntax', async () => {
    expect(await parseBaseReference('scratch')).toEqual({ kind: 'scratch' });
    expect(await parseBaseReference('alpine:3.20')).toEqual({ kind: 'store', ref: 'alpine:3.20' });
    expect(await parseBaseReference('docker-image://me/app:1')).toEqual({ kind: 'store', ref: 'me/app:1' });
    expect(await parseBaseReference('oci-layout:///srv/l:v1')).toEqual({ kind: 'oci-layout', path: '/srv/l', ref: 'v1' });
    expect(await parseBaseReference('oci-layout:///srv/l@sha256:' + 'a'.repeat(64))).toEqual({ kind: 'oci-layout', path: '/srv/l', ref: 'sha256:' + 'a'.repeat(64) });
    expect(await parseBaseReference('oci-layout://rel/dir')).toEqual({ kind: 'oci-layout', path: 'rel/dir' });
    expect(await parseBaseReference('docker-archive:///nonexistent.tar')).toEqual({ kind: 'docker-archive', path: '/nonexistent.tar' });
    await expect(parseBaseReference('Bad:Ref')).rejects.toBeInstanceOf(BuildError);
  });

  it('FROM an image in the store, an OCI layout and a docker-archive give the same file system', async () => {
    const dir = await tempDir();
    const base = await buildText('FROM scratch\nCOPY a.txt /base.txt\nENV FROM_BASE=1\nCMD ["/base"]\n', { 'a.txt': 'A' }, {
      tags: ['base:1'],
      output: [`type=oci,dest=${join(dir, 'layout')},tar=false,name=base:1`, `type=docker,dest=${join(dir, 'base.tar')},name=base:1`],
    });
    const refs = ['base:1', `oci-layout://${join(dir, 'layout')}:1`, `docker-archive://${join(dir, 'base.tar')}:base:1`, `docker-archive://${join(dir, 'base.tar')}`, `docker-archive://${join(dir, 'base.tar')}:@0`];
    for (const ref of refs) {
      const child = await buildText(`FROM ${ref}\nCOPY b.txt /child.txt\n`, { 'b.txt': 'B' }, { store: base.store });
      const config = await child.image.config();
      expect(config.config?.Env).toContain('FROM_BASE=1');
      expect(config.config?.Cmd).toEqual(['/base']);
      expect(config.rootfs.diff_ids[0]).toBe((await base.image.config()).rootfs.diff_ids[0]);
      expect(config.history?.map((h) => h.created_by)).toEqual(['COPY a.txt /base.txt # buildkit', 'ENV FROM_BASE=1', 'CMD ["/base"]', 'COPY b.txt /child.txt # buildkit']);
      const tree = await rootfs(child.image);
      expect(Object.keys(treeSummary(tree))).toEqual(['/base.txt', '/child.txt']);
    }
  });

  it('a missing layout or archive is BASE_IMAGE_NOT_FOUND with the FROM position', async () => {
    const err = await buildText('FROM oci-layout:///nonexistent/layout\n').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BuildError);
    expect((err as BuildError).code).toBe('BASE_IMAGE_NOT_FOUND');
    expect((err as BuildError).data.line).toBe(1);
  });

  it('named build contexts: a directory for COPY --from and FROM, an image for FROM', async () => {
    const dir = await tempDir();
    const base = await buildText('FROM scratch\nCOPY a.txt /from-image.txt\n', { 'a.txt': 'A' }, { output: `type=oci,dest=${join(dir, 'l')},tar=false` });
    const extra = await writeContext({ 'lib/x.js': 'X' });
    const child = await buildText(
      'FROM img\nCOPY --from=extra lib /lib\nCOPY --from=extra lib/x.js /single.js\n',
      {},
      { store: base.store, buildContexts: { img: `oci-layout://${join(dir, 'l')}`, extra } },
    );
    const tree = await rootfs(child.image);
    expect(Object.keys(treeSummary(tree))).toEqual(['/from-image.txt', '/lib', '/lib/x.js', '/single.js']);
    expect(await readText(tree, '/single.js')).toBe('X');
    const fromDir = await buildText('FROM extra\n', {}, { buildContexts: { extra } });
    expect(Object.keys(treeSummary(await rootfs(fromDir.image)))).toEqual(['/lib', '/lib/x.js']);
  });
});
