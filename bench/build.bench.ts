/**
 * `build.cold-vs-buildah`: a cold build of a COPY-heavy context (5,000
 * files, 150 MB of which half is random data) into an OCI layout, layerkit
 * against buildah (`bud --layers` into a fresh vfs storage root, then
 * `buildah push` to `oci:`), measured alternately in the same run.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from '../src/builder/build.js';
import { CONTEXT_BYTES, CONTEXT_FILES, which, writeBenchContext } from './context-fixture.js';
import { compare, ms, unavailable, type BenchCase } from './lib.js';

const exec = promisify(execFile);


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

export const cases: BenchCase[] = [
  {
    name: 'build.cold-vs-buildah',
    target: 0.12,
    async run() {
      if (!(await which('buildah'))) return unavailable('buildah is not installed (apt-get install buildah)', 'buildah');
      const work = await mkdtemp(join(tmpdir(), 'layerkit-bench-build-'));
      try {
        const context = join(work, 'context');
        await writeBenchContext(context, DOCKERFILE);
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
          detail: `layerkit build → store + OCI layout ${ms(r.subjectMs)}; ${CONTEXT_FILES} files, ${CONTEXT_BYTES / 1e6} MB (half random), 4 COPY + metadata`,
        };
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    },
  },
];
