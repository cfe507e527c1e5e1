/**
 * The build benches' context: 5,000 files, 150 MB, in 4 parts × 25
 * directories × 50 files, sizes spread around the mean, every other file
 * random bytes and the rest source-like text — the same bytes in every run.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

export const CONTEXT_FILES = 5000;
export const CONTEXT_BYTES = 150 * 1e6;

/** Text-like bytes: compressible, like source code. */
function textBytes(size: number, seed: number): Buffer {
  const words = ['const', 'function', 'return', 'import', 'export', 'layer', 'image', 'value', '=>', '{', '}', '(', ')', ';', '\n'];
  const parts: string[] = [];
  let length = 0;
  let x = seed;
  while (length < size) {
    x = (x * 1103515245 + 12345) >>> 0;
    const word = words[x % words.length]!;
    parts.push(word, ' ');
    length += word.length + 1;
  }
  return Buffer.from(parts.join('').slice(0, size));
}

/** Writes the context (`part0`…`part3`) and `dockerfile` as its Dockerfile into `dir`. */
export async function writeBenchContext(dir: string, dockerfile: string): Promise<void> {
  const perFile = Math.floor(CONTEXT_BYTES / CONTEXT_FILES);
  let n = 0;
  for (let part = 0; part < 4; part++) {
    for (let d = 0; d < 25; d++) {
      const sub = join(dir, `part${part}`, `dir${d}`);
      await mkdir(sub, { recursive: true });
      for (let f = 0; f < CONTEXT_FILES / 100; f++, n++) {
        // Sizes vary around the mean so some files are large, most small.
        const size = Math.max(1, Math.round(perFile * (0.2 + (1.6 * ((n * 7919) % 1000)) / 1000)));
        await writeFile(join(sub, `file${f}.dat`), n % 2 === 0 ? randomBytes(size) : textBytes(size, n));
      }
    }
  }
  await writeFile(join(dir, 'Dockerfile'), dockerfile);
}

/** True when `tool` is on PATH. */
export async function which(tool: string): Promise<boolean> {
  return promisify(execFile)('sh', ['-c', `command -v ${tool}`]).then(
    () => true,
    () => false,
  );
}
