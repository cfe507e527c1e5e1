/**
 * Child process of the `layer.write-1g-rss` benchmark (and of the RSS test):
 * computes the digest of a single-file layer of N bytes whose content is
 * generated on the fly, then prints its own peak RSS as JSON.
 */
import { layerFromEntries, type ContentSource } from '../src/layers/index.js';

const size = Number(process.argv[2] ?? 1024 ** 3);
const chunk = new Uint8Array(1024 * 1024);
// Half random, half zeros: compressible enough to keep the run short, random enough to exercise deflate.
for (let i = 0; i < chunk.length / 2; i++) chunk[i] = (Math.random() * 256) | 0;

const content: ContentSource = {
  size,
  async *open() {
    for (let left = size; left > 0; left -= chunk.length) yield left >= chunk.length ? chunk.slice() : chunk.slice(0, left);
  },
};

const start = performance.now();
const layer = layerFromEntries([{ path: '/big', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size, content }], { level: 1 });
const digest = await layer.digest();
const elapsed = performance.now() - start;
process.stdout.write(JSON.stringify({ rss: process.resourceUsage().maxRSS * 1024, ms: elapsed, digest }));
