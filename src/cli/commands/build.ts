/**
 * `layerkit build`: `docker buildx build` for the local store.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { build, canUseSandbox, DockerfileSyntaxError, formatAtPosition, LayerkitError, type RunExecutor, sandboxExecutor } from '../../index.js';
import { parseSecrets, parseSsh, readAll, splitOutputs, sshAgents, stdinContext, writeFilesOutput } from '../build-inputs.js';
import { parseFlags, unsupportedFlags, UsageError, type CliIo, type Command, type FlagSpec } from '../io.js';
import { openStore } from './transfer.js';
import { createProgress, PROGRESS_MODES, stderrWriter, type ProgressMode } from '../progress.js';

const usage = `Usage: layerkit build [OPTIONS] CONTEXT|-

Builds an image from a Dockerfile and a context directory into the local
store ($LAYERKIT_HOME, default ~/.local/share/layerkit). CONTEXT - reads the
context as a tar (plain or compressed) from standard input, or a Dockerfile
alone (then the context is empty).

  -f, --file FILE           the Dockerfile (default CONTEXT/Dockerfile); a
                            path from the current directory, - for standard
                            input (a path inside the tar with CONTEXT -)
  -t, --tag NAME[:TAG]      tag the image (repeatable; ":latest" when no tag)
      --build-arg K=V       set a build argument (repeatable)
      --build-context N=V   a named context: a directory, docker-image://REF,
                            oci-layout://DIR[:TAG] or docker-archive://FILE[:REF]
                            (repeatable)
      --target STAGE        build this stage (default the last)
      --platform OS/ARCH    the target platform (default the host's); a
                            comma-separated list builds each and pushes one
                            image index (RUN only for the host's platform)
      --pull                resolve base images in their registry even when
                            the store has them
      --push                push the result to every -t name
      --load                also put a pushed result on a registry base into
                            the store (downloading the base's layers)
      --label K=V           add a label to the image (repeatable)
  -o, --output SPEC         also export: type=oci,dest=DIR,tar=false |
                            type=oci,dest=FILE.tar | type=docker,dest=FILE.tar |
                            the final stage's files: type=local,dest=DIR (or
                            DIR) | type=tar,dest=FILE|- (or -) |
                            type=registry,name=REF |
                            type=image,name=REF[,push=true]
      --secret SPEC         a secret for RUN --mount=type=secret:
                            id=ID,src=FILE | id=ID,env=VAR | id=VAR (repeatable)
      --ssh SPEC            an SSH agent for RUN --mount=type=ssh: default
                            ($SSH_AUTH_SOCK), ID=SOCKET, or ID=KEY[,KEY...]
                            (private key files, served by an agent of
                            layerkit's own for the build) (repeatable)
      --no-cache            do not use the build cache
      --no-cache-filter S   do not use the build cache for stage S
                            (repeatable, or a comma-separated list)
      --cache-from SPEC     also look up steps in an exported cache:
                            type=local,src=DIR | type=registry,ref=REF
                            (repeatable)
      --cache-to SPEC       export this build's cache:
                            type=local,dest=DIR[,mode=min|max] |
                            type=registry,ref=REF[,mode=min|max] (repeatable)
      --progress MODE       auto (default), plain, tty or quiet; auto is tty
                            when standard error is a terminal
      --no-run              fail on RUN instead of running it in the sandbox
      --allow network.host  let RUN --network=host share the host's network (BuildKit's entitlement)
      --allow security.insecure
                            let RUN --security=insecure run with every capability
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
  { name: 'pull' },
  { name: 'push' },
  { name: 'load' },
  { name: 'label', value: true, repeat: true },
  { name: 'output', short: 'o', value: true, repeat: true },
  { name: 'no-cache' },
  { name: 'no-cache-filter', value: true, repeat: true },
  { name: 'cache-from', value: true, repeat: true },
  { name: 'cache-to', value: true, repeat: true },
  { name: 'progress', value: true },
  { name: 'no-run' },
  { name: 'allow', value: true, repeat: true },
  { name: 'source-date-epoch', value: true },
  { name: 'store', value: true },
  { name: 'quiet', short: 'q' },
  { name: 'secret', value: true, repeat: true },
  { name: 'ssh', value: true, repeat: true },
  ...unsupportedFlags({
    squash: [false, 'layerkit keeps every layer (the squash() API squashes an image)'],
    'add-host': [true, "RUN uses the host's network or none, and the image's /etc/hosts"],
    'cgroup-parent': [true, 'RUN steps have no cgroup settings'],
    'cpu-shares': [true, 'RUN steps have no resource limits'],
    'cpuset-cpus': [true, 'RUN steps have no resource limits'],
    memory: [true, 'RUN steps have no resource limits', 'm'],
    'memory-swap': [true, 'RUN steps have no resource limits'],
    'shm-size': [true, 'RUN steps have no resource limits'],
    ulimit: [true, 'RUN steps have no resource limits'],
    isolation: [true, 'layerkit has one isolation, its sandbox'],
    'security-opt': [true, 'the sandbox has one security profile'],
  }),
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

/** `--platform linux/amd64,linux/arm64` → both, in order. */
function platformList(value: string): string[] {
  const list = value.split(',').map((p) => p.trim());
  if (list.some((p) => p === '')) throw new UsageError(`--platform expects OS/ARCH[,OS/ARCH…], got ${JSON.stringify(value)}`);
  return list;
}

const ENTITLEMENTS = ['network.host', 'security.insecure'] as const;

/** `--allow network.host`, `--allow security.insecure` (BuildKit's entitlements layerkit knows). */
function allowFlags(list: string[]): { allow?: Array<(typeof ENTITLEMENTS)[number]> } {
  const items = stageList(list);
  const unknown = items.find((item) => !(ENTITLEMENTS as readonly string[]).includes(item));
  if (unknown !== undefined) throw new UsageError(`--allow expects network.host or security.insecure, got ${JSON.stringify(unknown)}`);
  return items.length > 0 ? { allow: ENTITLEMENTS.filter((e) => items.includes(e)) } : {};
}

/** `--no-cache-filter a,b --no-cache-filter c` → `['a', 'b', 'c']`. */
function stageList(list: string[]): string[] {
  return list.flatMap((item) => item.split(',')).map((s) => s.trim()).filter((s) => s !== '');
}

/** The instruction's line and a caret under its column, when the error has a position. */
async function positioned(err: LayerkitError, dockerfile: string, text?: string): Promise<string | undefined> {
  const { line, column } = err.data as { line?: unknown; column?: unknown };
  if (typeof line !== 'number') return undefined;
  const col = typeof column === 'number' ? column : 1;
  const source = await (text !== undefined ? Promise.resolve(text) : readFile(dockerfile, 'utf8')).then((t) => t.split(/\r?\n/)[line - 1], () => undefined);
  return formatAtPosition(dockerfile, line, col, err.message, source);
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
    const mode = progressMode(flags.get('progress'), flags.has('quiet'));
    const quiet = mode === 'quiet';
    const epoch = sourceDateEpoch(flags.get('source-date-epoch') ?? process.env['SOURCE_DATE_EPOCH']);
    const file = flags.get('file');
    const fromStdin = positional[0] === '-';
    if (fromStdin && file === '-') throw new UsageError('the context and the Dockerfile cannot both come from standard input');
    const secrets = parseSecrets(flags.all('secret'));
    const sshSpecs = await parseSsh(flags.all('ssh'));
    const outputs = splitOutputs(flags.all('output'));
    const toStdout = outputs.files.some((o) => o.dest === '-');
    if (toStdout && !io.write) throw new UsageError('standard output cannot take bytes here; use -o type=tar,dest=FILE');
    const target = flags.get('target');
    const platform = flags.get('platform');
    const store = flags.get('store');
    const executor = await defaultExecutor(flags.has('no-run'));
    const stdin = fromStdin || file === '-' ? (io.stdin ? await readAll(io.stdin) : Buffer.alloc(0)) : undefined;
    const piped = fromStdin ? await stdinContext(stdin!, openStore(flags).root) : undefined;
    const context = piped?.dir ?? positional[0]!;
    // As docker build: -f is a path from the current directory, except inside a context read from standard input.
    const dockerfileText = file === '-' ? stdin!.toString('utf8') : piped?.dockerfileText;
    const dockerfile = file === undefined || file === '-' ? undefined : piped ? file : resolve(file);
    const dockerfilePath = dockerfileText !== undefined ? '<stdin>' : (dockerfile ?? join(context, 'Dockerfile'));
    // With a tar on standard output, what is said goes to standard error.
    const say = toStdout ? io.stderr : io.stdout;
    // Key files are served by an agent of this process's own while the build runs.
    const agents = await sshAgents(sshSpecs, openStore(flags).root).catch(async (err: unknown) => {
      await piped?.dispose();
      throw err;
    });
    const ssh = agents.ssh;
    const display = mode === 'quiet' ? undefined : createProgress(mode, stderrWriter(io));
    try {
      const result = await build({
        context,
        ...(dockerfile === undefined ? {} : { dockerfile }),
        ...(dockerfileText === undefined ? {} : { dockerfileText }),
        ...(Object.keys(secrets).length > 0 ? { secrets } : {}),
        ...(Object.keys(ssh).length > 0 ? { ssh } : {}),
        tags: flags.all('tag'),
        buildArgs: keyValues(flags.all('build-arg'), 'build-arg'),
        buildContexts: keyValues(flags.all('build-context'), 'build-context'),
        labels: keyValues(flags.all('label'), 'label'),
        ...(target === undefined ? {} : { target }),
        ...(platform === undefined ? {} : platform.includes(',') ? { platforms: platformList(platform) } : { platform }),
        ...(flags.has('pull') ? { pull: true } : {}),
        ...(flags.has('push') ? { push: true } : {}),
        ...(flags.has('load') ? { load: true } : {}),
        ...(store === undefined ? {} : { store }),
        ...(epoch === undefined ? {} : { sourceDateEpoch: epoch }),
        ...(executor === undefined ? {} : { executor }),
        output: outputs.images,
        noCache: flags.has('no-cache'),
        noCacheFilter: stageList(flags.all('no-cache-filter')),
        cacheFrom: flags.all('cache-from'),
        cacheTo: flags.all('cache-to'),
        ...allowFlags(flags.all('allow')),
        ...(display === undefined ? {} : { onEvent: display.onEvent }),
      });
      for (const output of outputs.files) await writeFilesOutput(result.image, output, (bytes) => io.write!('stdout', bytes));
      display?.finish();
      if (quiet) {
        say(`${result.imageId}\n`);
      } else {
        const cached = result.steps.filter((s) => s.cached).length;
        say(`built ${result.imageId}\n`);
        say(`digest ${result.digest}\n`);
        for (const p of result.pushed) say(`pushed ${p.reference} ${p.digest}\n`);
        if (result.stored) for (const tag of result.tags) say(`tagged ${tag}\n`);
        else say('not stored locally (pushed only; --load stores it)\n');
        say(`${result.steps.length} steps, ${cached} cached\n`);
      }
      return 0;
    } catch (err) {
      display?.finish(err);
      if (err instanceof DockerfileSyntaxError) {
        io.stderr(err.format(dockerfilePath) + '\n');
        return 1;
      }
      if (err instanceof LayerkitError) {
        const text = await positioned(err, dockerfilePath, dockerfileText);
        if (text !== undefined) {
          io.stderr(`${text}\n`);
          return 1;
        }
      }
      throw err;
    } finally {
      await agents.close();
      await piped?.dispose();
    }
  },
};
