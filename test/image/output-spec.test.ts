import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  appendLayers,
  emptyImage,
  InvalidOutputSpecError,
  listDockerArchive,
  listOciLayout,
  parseOutputSpec,
  writeImageOutput,
} from '../../src/image/index.js';
import { layerOf, tempDir } from './helpers.js';

describe('parseOutputSpec', () => {
  it.each([
    ['type=oci,dest=out,tar=false', { type: 'oci', dest: 'out', tar: false, names: [] }],
    ['type=oci,dest=out.tar', { type: 'oci', dest: 'out.tar', tar: true, names: [] }],
    ['type=docker,dest=img.tar', { type: 'docker', dest: 'img.tar', tar: true, names: [] }],
    ['type=docker,dest=img.tar,name=me/app:1,name=me/app:latest', { type: 'docker', dest: 'img.tar', tar: true, names: ['me/app:1', 'me/app:latest'] }],
    ['"name=a:1,b:2",type=oci,dest=/tmp/x y.tar', { type: 'oci', dest: '/tmp/x y.tar', tar: true, names: ['a:1', 'b:2'] }],
    [' type = oci , dest = d , tar = true ', { type: 'oci', dest: 'd', tar: true, names: [] }],
  ])('%s', (spec, expected) => {
    expect(parseOutputSpec(spec)).toEqual(expected);
  });

  it.each([
    ['dest=out', /missing type/],
    ['type=oci', /missing dest/],
    ['type=local,dest=out', /not supported/],
    ['type=registry,name=x,dest=out', /takes no dest/],
    ['type=oci,dest=out,tar=yes', /true or false/],
    ['type=docker,dest=out,tar=false', /always a tar/],
    ['type=oci,dest=out,compression=brotli', /compression must be gzip, zstd or uncompressed/],
    ['type=oci,dest=out,oci-mediatypes=true', /unknown key "oci-mediatypes"/],
    ['type=oci,dest=-', /standard output/],
    ['type=oci,dest=out,name=Bad/Name', /lowercase/],
    ['type=oci,"dest=out', /bad quoting: parse error on line 1, column 11: extraneous or missing " in quoted-field/],
    ['type=oci,dest=o"ut', /bad quoting: .*bare " in non-quoted-field/],
    ['type=oci,dest', /key=value/],
  ])('rejects %s', (spec, reason) => {
    let caught: unknown;
    try {
      parseOutputSpec(spec);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidOutputSpecError);
    expect((caught as InvalidOutputSpecError).code).toBe('INVALID_OUTPUT_SPEC');
    expect((caught as InvalidOutputSpecError).message).toMatch(reason);
  });
});

describe('writeImageOutput', () => {
  const image = appendLayers(emptyImage({ os: 'linux', architecture: 'amd64' }), layerOf({ '/a': 'a' }));

  it('writes an OCI directory, an OCI tar and a docker-archive with the names given', async () => {
    const root = await tempDir();
    await writeImageOutput(image, `type=oci,dest=${join(root, 'dir')},tar=false,name=me/app:1`);
    expect((await listOciLayout(join(root, 'dir'))).map((e) => [e.imageName, e.refName])).toEqual([['docker.io/me/app:1', '1']]);
    await writeImageOutput(image, { type: 'oci', dest: join(root, 'o.tar'), tar: true, names: [] });
    expect((await readFile(join(root, 'o.tar'))).subarray(257, 262).toString()).toBe('ustar');
    await writeImageOutput(image, `type=docker,dest=${join(root, 'd.tar')},name=busybox`);
    expect((await listDockerArchive(join(root, 'd.tar'))).map((e) => e.RepoTags)).toEqual([['busybox:latest']]);
  });
});
