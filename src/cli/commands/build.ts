/**
 * `layerkit build`: `docker buildx build` for the local store.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { build } from '../../build/build.js';
import type { RunExecutor } from '../../build/executor.js';
import { canUseSandbox } from '../../build/run/probe.js';
import { sandboxExecutor } from '../../build/run/sandbox.js';
import { DockerfileSyntaxError } from '../../dockerfile/errors.js';
import { LayerkitError } from '../../errors.js';
import { parseFlags, UsageError, type CliIo, type Command, type FlagSpec } from '../io.js';
import { createProgress, PROGRESS_MODES, stderrWriter, type ProgressMode } from '../progress.js';

const usage = `Usage: layerkit build [OPTIONS] CONTEXT

Builds an image from a Dockerfile and a context directory into the local
store ($LAYERKIT_HOME, default ~/.local/share/layerkit).

  -f, --file FILE           the Dockerfile (default CONTEXT/Dockerfile)
  -t, --tag NAME[:TAG]      tag the image (repeatable; ":latest" when no tag)
      --build-arg K=V       set a build argument (repeatable)
      --build-context N=V   a named context: a directory, docker-image://REF,
                            oci-layout://DIR[:TAG] or docker-archive://FILE[:REF]
                            (repeatable)
      --target STAGE        build this stage (default the last)
      --platform OS/ARCH    the target platform (default the host's)
      --label K=V           add a label to the image (repeatable)
  -o, --output SPEC         also export: type=oci,dest=DIR,tar=false |
                            type=oci,dest=FILE.tar | type=docker,dest=FILE.tar
      --no-cache            do not use the build cache
      --no-cache-filter S   do not use the build cache for stage S
                            (repeatable, or a comma-separated list)
      --cache-from SPEC     also look up steps in an exported cache:
                            type=local,src=DIR (repeatable)
      --cache-to SPEC       export this build's cache:
                            type=local,dest=DIR[,mode=min|max] (repeatable)
      --progress MODE       auto (default), plain, tty or quiet; auto is tty
                            when standard error is a terminal
      --no-run              fail on RUN instead of running it in the sandbox
      --source-date-epoch N timestamps for reproducible images
                            (default $SOURCE_DATE_EPOCH)
      --store DIR           the image store directory
  -q, --quiet               print only the image ID (--progress=quiet)

Exit status: 0 built, 1 the build failed, 2 bad usage.
`;

/** buildx's spelling: a repeatable option keeps every value in order, the others the last one given. */
const BUILD_FLAGS: readonly FlagSpec[] = [
  { name: 'file', short: 'f', value: true },
  { name: 'tag', short: 't', value: true, repeat: true },
  { name: 'build-arg', value: true, repeat: true },
  { name: 'build-context', value: true, repeat: true },
  { name: 'target', value: true },
  { name: 'platform', value: true },
  { name: 'label', value: true, repeat: true },
  { name: 'output', short: 'o', value: true, repeat: true },
  { name: 'no-cache' },
  { name: 'no-cache-filter', value: true, repeat: true },
  { name: 'cache-from', value: true, repeat: true },
  { name: 'cache-to', value: true, repeat: true },
  { name: 'progress', value: true },
  { name: 'no-run' },
  { name: 'source-date-epoch', value: true },
  { name: 'store', value: true },
  { name: 'quiet', short: 'q' },
];

function keyValues(list: string[], option: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`--${option} expects KEY=VALUE, got ${JSON.stringify(item)}`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

function sourceDateEpoch(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  if (!/^\d+$/.test(text)) throw new UsageError(`--source-date-epoch expects whole seconds, got ${JSON.stringify(text)}`);
  return Number(text);
}

function progressMode(value: string | undefined, quiet: boolean): ProgressMode {
  if (value === undefined) return quiet ? 'quiet' : 'auto';
  if (!(PROGRESS_MODES as readonly string[]).includes(value)) {
    throw new UsageError(`--progress expects one of ${PROGRESS_MODES.join(', ')}, got ${JSON.stringify(value)}`);
  }
  if (quiet && value !== 'quiet') throw new UsageError(`--quiet and --progress=${value} contradict each other`);
  return value as ProgressMode;
}

/** `--no-cache-filter a,b --no-cache-filter c` → `['a', 'b', 'c']`. */
function stageList(list: string[]): string[] {
  return list.flatMap((item) => item.split(',')).map((s) => s.trim()).filter((s) => s !== '');
}

/** The instruction's line and a caret under its column, when the error has a position. */
async function positioned(err: LayerkitError, dockerfile: string): Promise<string | undefined> {
  const { line, column } = err.data as { line?: unknown; column?: unknown };
  if (typeof line !== 'number') return undefined;
  const col = typeof column === 'number' ? column : 1;
  const source = await readFile(dockerfile, 'utf8').then((text) => text.split(/\r?\n/)[line - 1], () => undefined);
  const head = `${dockerfile}:${line}:${col}: ${err.message}`;
  return source === undefined ? head : `${head}\n${source}\n${' '.repeat(Math.max(0, col - 1))}^`;
}

async function defaultExecutor(noRun: boolean): Promise<RunExecutor | undefined> {
  if (noRun) return undefined;
  return (await canUseSandbox()) ? sandboxExecutor() : undefined;
}

/** The `build` command. */
export const buildCommand: Command = {
  name: 'build',
  summary: 'build an image from a Dockerfile into the local store',
  usage,
  async run(args: string[], io: CliIo): Promise<number> {
    const { flags, positional } = parseFlags(args, BUILD_FLAGS);
    if (positional.length !== 1) throw new UsageError('expected exactly one CONTEXT directory');
    const context = positional[0]!;
    const mode = progressMode(flags.get('progress'), flags.has('quiet'));
    const quiet = mode === 'quiet';
    const executor = await defaultExecutor(flags.has('no-run'));
    const epoch = sourceDateEpoch(flags.get('source-date-epoch') ?? process.env['SOURCE_DATE_EPOCH']);
    const file = flags.get('file');
    const target = flags.get('target');
    const platform = flags.get('platform');
    const store = flags.get('store');
    const dockerfilePath = file === undefined ? join(context, 'Dockerfile') : isAbsolute(file) ? file : join(context, file);
    const display = mode === 'quiet' ? undefined : createProgress(mode, stderrWriter(io));
    try {
      const result = await build({
        context,
        ...(file === undefined ? {} : { dockerfile: file }),
        tags: flags.all('tag'),
        buildArgs: keyValues(flags.all('build-arg'), 'build-arg'),
        buildContexts: keyValues(flags.all('build-context'), 'build-context'),
        labels: keyValues(flags.all('label'), 'label'),
        ...(target === undefined ? {} : { target }),
        ...(platform === undefined ? {} : { platform }),
        ...(store === undefined ? {} : { store }),
        ...(epoch === undefined ? {} : { sourceDateEpoch: epoch }),
        ...(executor === undefined ? {} : { executor }),
        output: flags.all('output'),
        noCache: flags.has('no-cache'),
        noCacheFilter: stageList(flags.all('no-cache-filter')),
        cacheFrom: flags.all('cache-from'),
        cacheTo: flags.all('cache-to'),
        ...(display === undefined ? {} : { onEvent: display.onEvent }),
      });
      display?.finish();
      if (quiet) {
        io.stdout(`${result.imageId}\n`);
      } else {
        const cached = result.steps.filter((s) => s.cached).length;
        io.stdout(`built ${result.imageId}\n`);
        io.stdout(`digest ${result.digest}\n`);
        for (const tag of result.tags) io.stdout(`tagged ${tag}\n`);
        io.stdout(`${result.steps.length} steps, ${cached} cached\n`);
      }
      return 0;
    } catch (err) {
      display?.finish(err);
      if (err instanceof DockerfileSyntaxError) {
        io.stderr(err.format(dockerfilePath) + '\n');
        return 1;
      }
      if (err instanceof LayerkitError) {
        const text = await positioned(err, dockerfilePath);
        if (text !== undefined) {
          io.stderr(`${text}\n`);
          return 1;
        }
      }
      throw err;
    }
  },
};
