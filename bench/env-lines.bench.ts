/**
 * `build.env-20k-lines`: a Dockerfile of 20,000 `ENV` lines against twice
 * the same Dockerfile of 10,000 lines, built in the same run. Linear work
 * gives 1.0; the quadratic cost this row guards against (every step hashed
 * and copied the whole variable list) made it 4.8 (15 s and 144 s).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from '../src/builder/build.js';
import { compare, ms, type BenchCase } from './lib.js';

function envLines(n: number): string {
  const lines = ['FROM scratch'];
  for (let i = 0; i < n; i++) lines.push(`ENV VAR_${i}=value-${i}`);
  return lines.join('\n') + '\n';
}

/** One build of `text` into a fresh store (the cache writes one record per step, as a real build does). */
async function buildOnce(context: string, text: string): Promise<void> {
  const store = await mkdtemp(join(tmpdir(), 'layerkit-bench-env-store-'));
  try {
    await build({ context, store, dockerfileText: text });
  } finally {
    await rm(store, { recursive: true, force: true });
  }
}

export const cases: BenchCase[] = [
  {
    name: 'build.env-20k-lines',
    target: 1.1,
    async run() {
      const context = await mkdtemp(join(tmpdir(), 'layerkit-bench-env-'));
      try {
        const half = envLines(10_000);
        const full = envLines(20_000);
        const result = await compare({
          rounds: 3,
          warmup: 0,
          baseline: async () => {
            await buildOnce(context, half);
            await buildOnce(context, half);
          },
          subject: () => buildOnce(context, full),
        });
        return {
          ratio: result.ratio,
          baseline: `2 × 10,000 ENV lines (median ${ms(result.baselineMs)})`,
          detail: `20,000 ENV lines: median ${ms(result.subjectMs)}`,
        };
      } finally {
        await rm(context, { recursive: true, force: true });
      }
    },
  },
];
