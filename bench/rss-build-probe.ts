/**
 * Child process of the `build.*-rss` benchmarks: runs one build and prints
 * its own peak RSS as JSON.
 *
 *   rss-build-probe.ts copy CONTEXT STORE   # FROM scratch, COPY . /data
 *   rss-build-probe.ts run  CONTEXT STORE   # FROM base:rss, RUN a small change
 *
 * The bench compiles it with the sources (tsconfig.build.json) and runs the
 * JavaScript, as users run the package; `node --import tsx` runs it from
 * source, with the transpiler's memory in the figure.
 */
import { build } from '../src/builder/build.js';
import { sandboxExecutor } from '../src/sandbox/sandbox.js';

const [mode, context, store] = process.argv.slice(2);
if (!context || !store || (mode !== 'copy' && mode !== 'run')) throw new Error('usage: rss-build-probe.ts copy|run CONTEXT STORE');
const start = performance.now();
const dockerfileText = mode === 'copy' ? 'FROM scratch\nCOPY . /data\n' : 'FROM base:rss\nRUN ["/bin/busybox", "touch", "/marker"]\n';
await build({ context, store, dockerfileText, ...(mode === 'run' ? { executor: sandboxExecutor() } : {}) });
process.stdout.write(JSON.stringify({ rss: process.resourceUsage().maxRSS * 1024, ms: performance.now() - start }));
