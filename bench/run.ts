/**
 * Runs every benchmark in bench/ and prints one table of ratios.
 *
 *   npm run bench [-- --json FILE] [--filter TEXT]
 *
 * Each `*.bench.ts` file exports `cases: BenchCase[]`. Nothing here passes or
 * fails: the table says where each ratio stands against its target.
 */
import { readdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchCase, BenchRow } from './lib.js';

function parseArgs(argv: string[]): { json?: string; filter?: string } {
  const out: { json?: string; filter?: string } = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (flag === '--json' || flag === '--filter') {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new Error(`${flag} needs a value`);
      out[flag === '--json' ? 'json' : 'filter'] = value;
    } else {
      throw new Error(`unknown argument ${arg} (usage: npm run bench -- [--json FILE] [--filter TEXT])`);
    }
  }
  return out;
}

async function loadCases(): Promise<BenchCase[]> {
  const here = dirname(fileURLToPath(import.meta.url));
  const files = (await readdir(here)).filter((f) => f.endsWith('.bench.ts')).sort();
  const cases: BenchCase[] = [];
  for (const file of files) {
    const mod = (await import(pathToFileURL(join(here, file)).href)) as { cases?: BenchCase[] };
    cases.push(...(mod.cases ?? []));
  }
  return cases;
}

function verdict(row: BenchRow): string {
  if (row.ratio === null) return 'not run';
  return row.ratio <= row.target ? 'meets target' : 'above target';
}

function printTable(rows: BenchRow[]): void {
  const header = ['benchmark', 'ratio', 'target', 'status', 'baseline', 'detail'];
  const lines = rows.map((r) => [
    r.name,
    r.ratio === null ? '-' : r.ratio.toFixed(3),
    `≤ ${r.target}`,
    verdict(r),
    r.baseline,
    r.detail,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cols: string[]) => cols.map((c, i) => (i === cols.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  console.log(fmt(header));
  console.log(fmt(widths.map((w) => '-'.repeat(w))));
  for (const l of lines) console.log(fmt(l));
}

const args = parseArgs(process.argv.slice(2));
const selected = (await loadCases()).filter((c) => !args.filter || c.name.includes(args.filter));
console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`);
const rows: BenchRow[] = [];
for (const c of selected) {
  process.stderr.write(`running ${c.name}…\n`);
  try {
    rows.push({ name: c.name, target: c.target, ...(await c.run()) });
  } catch (err) {
    rows.push({ name: c.name, target: c.target, ratio: null, baseline: 'n/a', detail: `failed: ${(err as Error).message}` });
  }
}
printTable(rows);
if (args.json) {
  const ordered = rows.map(({ name, ratio, target, baseline, detail }) => ({ name, ratio, target, baseline, detail }));
  await writeFile(args.json, JSON.stringify(ordered, null, 2) + '\n');
}
