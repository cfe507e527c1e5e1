/**
 * The shared vocabulary of benchmarks: a case measures layerkit against a
 * baseline in the same run and reports the ratio of their median costs.
 */

/** One row of the results table (and of the `--json` file). */
export interface BenchRow {
  /** Stable row name, as the issues give it (e.g. `parse.vs-dockerfile-ast`). */
  name: string;
  /** layerkit's cost divided by the baseline's; lower is better. `null` when the row could not run. */
  ratio: number | null;
  /** The ratio the row aims for. */
  target: number;
  /** What the baseline is (and its median time). */
  baseline: string;
  /** Medians and anything else worth reading; for a row that could not run, the reason. */
  detail: string;
}

/** A benchmark case. `run` does its own setup and cleanup. */
export interface BenchCase {
  name: string;
  target: number;
  run(): Promise<Omit<BenchRow, 'name' | 'target'>>;
}

/** Median of a non-empty list. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Milliseconds spent in `fn`. */
export async function timeMs(fn: () => unknown): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** Medians of both sides over `rounds`, measured alternately (ABBA) so drift hits both. */
export interface Comparison {
  baselineMs: number;
  subjectMs: number;
  ratio: number;
}

/**
 * Runs `baseline` and `subject` alternately for `rounds` rounds (after `warmup`
 * untimed rounds of each), each side first in every other round, and returns
 * their medians and ratio.
 */
export async function compare(options: {
  rounds?: number;
  warmup?: number;
  baseline: () => unknown;
  subject: () => unknown;
  /**
   * Runs, untimed, before every timed call: where one side's leftovers
   * (dirty pages still being written back, say) would otherwise be paid
   * by the side that always runs next.
   */
  settle?: () => unknown;
}): Promise<Comparison> {
  const { rounds = 5, warmup = 1, baseline, subject, settle } = options;
  for (let i = 0; i < warmup; i++) {
    await baseline();
    await subject();
  }
  const b: number[] = [];
  const s: number[] = [];
  // ABBA order: whatever one run leaves behind (caches, writeback, a busy
  // host) lands on each side equally often.
  const runBaseline = async () => {
    await settle?.();
    b.push(await timeMs(baseline));
  };
  const runSubject = async () => {
    await settle?.();
    s.push(await timeMs(subject));
  };
  for (let i = 0; i < rounds; i++) await alternately(i, runBaseline, runSubject);
  const baselineMs = median(b);
  const subjectMs = median(s);
  return { baselineMs, subjectMs, ratio: subjectMs / baselineMs };
}

/** Runs both, the first one first in even rounds and second in odd ones, so neither always runs on the other's leftovers. */
export async function alternately(round: number, first: () => Promise<unknown>, second: () => Promise<unknown>): Promise<void> {
  if (round % 2 === 0) {
    await first();
    await second();
  } else {
    await second();
    await first();
  }
}

/** Formats milliseconds for the table. */
export function ms(value: number): string {
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(value < 10 ? 2 : 1)} ms`;
}

/** A row that could not be measured, with the reason. */
export function unavailable(reason: string, baseline = 'n/a'): Omit<BenchRow, 'name' | 'target'> {
  return { ratio: null, baseline, detail: reason };
}
