import { describe, expect, it } from 'vitest';
import { appendLayers, bytesSource, diffImages, emptyImage, layerFromEntries, type Entry } from '../../src/index.js';

const file = (path: string, text: string): Entry => {
  const bytes = new TextEncoder().encode(text);
  return { path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: bytes.length, content: bytesSource(bytes) };
};
const dir = (path: string): Entry => ({ path, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 });

describe('diffImages', () => {
  it("lists what turns one image's file system into the other's, whiteouts applied, root left out", async () => {
    const base = appendLayers(emptyImage(), layerFromEntries([dir('/etc'), file('/etc/a', 'a'), file('/etc/old', 'x'), dir('/srv')]));
    const next = appendLayers(
      base,
      layerFromEntries([dir('/etc'), file('/etc/a', 'changed'), file('/etc/.wh.old', ''), dir('/srv'), dir('/srv/new'), file('/srv/new/f', 'f')]),
    );
    const changes = await diffImages(base, next);
    expect(changes.map((c) => `${c.kind} ${c.path}`)).toEqual(['modify /etc', 'modify /etc/a', 'delete /etc/old', 'modify /srv', 'add /srv/new', 'add /srv/new/f']);
    expect(await diffImages(next, next)).toEqual([]);
  });
});
