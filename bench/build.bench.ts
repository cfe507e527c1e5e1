/**
 * `build.cold-vs-buildah`: a cold build of a COPY-heavy context (5,000
 * files, 150 MB of which half is random data) into an OCI layout, layerkit
 * against buildah (`bud --layers` into a fresh vfs storage root, then
 * `buildah push` to `oci:`), measured alternately in the same run.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from '../src/build/build.js';
import { compare, ms, unavailable, type BenchCase } from './lib.js';

const exec = promisify(execFile);

const FILES = 5000;
const TOTAL_BYTES = 150 * 1e6;

const DOCKERFILE = [
  'FROM scratch',
  'LABEL org.opencontainers.image.title=bench',
  'COPY part0 /app/part0',
  'COPY part1 /app/part1/',
  'COPY part2/ /srv/data/',
  'COPY part3 /opt/part3',
  'ENV MODE=bench PATH=/app/bin',
  'WORKDIR /app',
  'EXPOSE 8080',
  'CMD ["/app/run"]',
  '',
].join('\n');

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

/** Writes the context: 4 parts × 25 directories × 50 files; every other file random. */
async function makeContext(dir: string): Promise<void> {
  const perFile = Math.floor(TOTAL_BYTES / FILES);
  let n = 0;
  for (let part = 0; part < 4; part++) {
    for (let d = 0; d < 25; d++) {
      const sub = join(dir, `part${part}`, `dir${d}`);
      await mkdir(sub, { recursive: true });
      for (let f = 0; f < FILES / 100; f++, n++) {
        // Sizes vary around the mean so some files are large, most small.
        const size = Math.max(1, Math.round(perFile * (0.2 + 1.6 * ((n * 7919) % 1000) / 1000)));
        await writeFile(join(sub, `file${f}.dat`), n % 2 === 0 ? randomBytes(size) : textBytes(size, n));
      }
    }
  }
  await writeFile(join(dir, 'Dockerfile'), DOCKERFILE);
}

async function which(tool: string): Promise<boolean> {
  return exec('sh', ['-c', `command -v ${tool}`]).then(
    () => true,
    () => false,
  );
}

export const cases: BenchCase[] = [
  {
    name: 'build.cold-vs-buildah',
    target: 0.3,
    async run() {
      if (!(await which('buildah'))) return unavailable('buildah is not installed (apt-get install buildah)', 'buildah');
      const work = await mkdtemp(join(tmpdir(), 'layerkit-bench-build-'));
      try {
        const context = join(work, 'context');
        await makeContext(context);
        let round = 0;
        let buildahBuildMs = 0;
        let buildahPushMs = 0;
        const r = await compare({
          rounds: 2,
          warmup: 0,
          async baseline() {
            const root = join(work, `buildah-${round}`);
            const storage = ['--storage-driver', 'vfs', '--root', join(root, 'root'), '--runroot', join(root, 'runroot')];
            const started = Date.now();
            await exec('buildah', [...storage, 'bud', '--isolation', 'chroot', '--layers', '-f', join(context, 'Dockerfile'), '-t', 'bench', context], {
              maxBuffer: 1 << 26,
            });
            const built = Date.now();
            await exec('buildah', [...storage, 'push', 'bench', `oci:${join(root, 'out')}:bench`]);
            buildahBuildMs = built - started;
            buildahPushMs = Date.now() - built;
            await rm(root, { recursive: true, force: true });
          },
          async subject() {
            const root = join(work, `layerkit-${round++}`);
            await build({ context, store: join(root, 'store'), output: `type=oci,dest=${join(root, 'out')},tar=false,name=bench:latest` });
            await rm(root, { recursive: true, force: true });
          },
        });
        return {
          ratio: r.ratio,
          baseline: `buildah bud --layers + push ${ms(r.baselineMs)} (last: build ${ms(buildahBuildMs)}, push ${ms(buildahPushMs)})`,
          detail: `layerkit build → store + OCI layout ${ms(r.subjectMs)}; ${FILES} files, ${TOTAL_BYTES / 1e6} MB (half random), 4 COPY + metadata`,
        };
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    },
  },
];
