import { createHash, randomFillSync } from 'node:crypto';
import { createSha256 } from '../src/digest.js';
import { compare, ms, type BenchCase } from './lib.js';

const TOTAL = 256 * 2 ** 20;
const CHUNK = 64 * 2 ** 10;

export const cases: BenchCase[] = [
  {
    name: 'hash.sha256-stream',
    target: 1.1,
    async run() {
      const data = randomFillSync(Buffer.allocUnsafe(TOTAL));
      const chunks: Uint8Array[] = [];
      for (let off = 0; off < TOTAL; off += CHUNK) chunks.push(data.subarray(off, off + CHUNK));
      let sink = '';
      const r = await compare({
        rounds: 5,
        baseline: () => {
          sink = createHash('sha256').update(data).digest('hex');
        },
        subject: () => {
          const h = createSha256();
          for (const c of chunks) h.update(c);
          sink = h.digest();
        },
      });
      void sink;
      const gbps = (t: number) => (TOTAL / 1e9 / (t / 1000)).toFixed(2);
      return {
        ratio: r.ratio,
        baseline: `node:crypto one-shot ${ms(r.baselineMs)}`,
        detail: `256 MiB in 64 KiB chunks: ${ms(r.subjectMs)} (${gbps(r.subjectMs)} GB/s vs ${gbps(r.baselineMs)} GB/s)`,
      };
    },
  },
];
