/**
 * RepoDigests in the store: recorded beside the tags, shown by inspect,
 * replaced per repository, gone with the image, and the store still an OCI
 * layout other readers accept.
 */
import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { readOciLayout } from '../../src/image/layout.js';
import { ImageStore } from '../../src/image/store/store.js';
import { randomImage } from './fixtures.js';
import { tempDir } from './helpers.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const d1 = `sha256:${'1'.repeat(64)}`;
const d2 = `sha256:${'2'.repeat(64)}`;

describe('ImageStore.addRepoDigest', () => {
  it('records, replaces per repository, survives tag moves, and goes with the image', async () => {
    const root = await tempDir('store');
    dirs.push(root);
    const store = new ImageStore(root);
    const image = randomImage(1);
    const { id, digest } = await store.putImage(image, 'app:1');
    await store.addRepoDigest(id, `registry.lan:5000/team/app@${d1}`);
    await store.addRepoDigest(id, `busybox@${d2}`);
    let info = await store.inspect('app:1');
    expect(info.RepoDigests).toEqual(expect.arrayContaining([`registry.lan:5000/team/app@${d1}`, `busybox@${d2}`]));
    // A newer digest of the same repository replaces the older one.
    await store.addRepoDigest(digest, `registry.lan:5000/team/app@${d2}`);
    info = await store.inspect('app:1');
    expect(info.RepoDigests).toContain(`registry.lan:5000/team/app@${d2}`);
    expect(info.RepoDigests).not.toContain(`registry.lan:5000/team/app@${d1}`);
    // Tags come and go; the record stays with the image.
    await store.tag('app:1', 'app:2');
    await store.untag('app:1');
    expect((await store.inspect('app:2')).RepoDigests).toContain(`busybox@${d2}`);
    // The store is still an OCI layout that reads by ref name.
    expect(await (await readOciLayout(root, 'docker.io/library/app:2')).digest()).toBe(digest);
    // Removed with the image: put again, nothing recorded.
    await store.remove(id, { force: true });
    await store.putImage(image, 'app:3');
    expect((await store.inspect('app:3')).RepoDigests).toEqual([`app@${digest}`]);
  });

  it('refuses an unknown image and a reference without a digest, changing nothing', async () => {
    const root = await tempDir('store');
    dirs.push(root);
    const store = new ImageStore(root);
    const { id } = await store.putImage(randomImage(1), 'app:1');
    await expect(store.addRepoDigest(d1 as never, `app@${d2}`)).rejects.toMatchObject({ code: 'IMAGE_NOT_FOUND' });
    await expect(store.addRepoDigest(id, 'app:1')).rejects.toMatchObject({ code: 'INVALID_REFERENCE' });
    expect((await store.inspect('app:1')).RepoDigests).toEqual([`app@${(await store.inspect('app:1')).Descriptor.digest}`]);
  });
});
