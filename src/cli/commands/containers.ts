/**
 * The Docker verbs for containers: `create`, `run`, `ps`, `start`, `stop`,
 * `restart`, `pause`, `unpause`, `exec`, `commit`, `cp`, `diff`, `logs`,
 * `rm`. Each is a call into {@link ContainerRuntime}; there is no daemon:
 * a detached container is watched by a supervisor process of its own.
 *
 * Exit codes follow Docker: `run`, `start -a` and `exec` return the
 * command's exit code; `run` returns 125 when layerkit itself fails (bad
 * usage included, so that a command's own 1 or 2 is not mistaken for it).
 * @module
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { fileURLToPath } from 'node:url';
import {
  type ContainerInfo,
  containerLogs,
  type ContainerMount,
  ContainerRuntime,
  containerSize,
  diffImages,
  goQuote,
  LayerkitError,
  type OutputListener,
  parseLogTime,
  parseMountFlag,
  parsePublish,
  parseVolumeFlag,
  type TerminalSize,
} from '../../index.js';
import { humanDuration, portsText, statusText } from '../status-text.js';
import { formatList } from '../go-template.js';
import { parseFlags, unsupportedFlags, UsageError, type CliIo, type Command, type FlagSpec, type Flags } from '../io.js';
import { each } from './container-verbs.js';
import { humanSize, openStore, STORE_FLAG as STORE, STORE_OPTION as STORE_HELP } from './transfer.js';

function runtimeOf(flags: Flags): ContainerRuntime {
  return new ContainerRuntime(openStore(flags));
}

/** Where a container's output goes: raw bytes when the io takes them, else UTF-8 text decoded across chunks. */
function outputTo(io: CliIo): OutputListener {
  if (io.write) return (stream, chunk) => io.write!(stream, chunk);
  const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  return (stream, chunk) => {
    const text = decoders[stream].write(Buffer.from(chunk));
    if (text !== '') io[stream](text);
  };
}

/**
 * `-t` on this process's own terminal: raw mode while attached (the
 * container's terminal does the echo and the line editing, as with Docker),
 * and the container's terminal follows this one's size.
 */
function hostTerminal(io: CliIo, tty: boolean): { terminal?: TerminalSize; restore(): void } {
  if (!tty || io.stdin !== process.stdin || !process.stdin.isTTY) return { restore: () => {} };
  process.stdin.setRawMode(true);
  const out = process.stdout;
  const terminal: TerminalSize | undefined = out.isTTY
    ? { size: () => ({ columns: out.columns, rows: out.rows }), onResize: (listener) => (out.on('resize', listener), () => void out.off('resize', listener)) }
    : undefined;
  return { ...(terminal ? { terminal } : {}), restore: () => process.stdin.setRawMode(false) };
}

/** `-e K=V`, or `-e K` taking K's value from this process's environment (dropped when unset), as Docker. */
function envFlags(flags: Flags): string[] {
  const out: string[] = [];
  for (const kv of flags.all('env')) {
    // Docker's words: a variable needs a name.
    if (kv === '' || kv.startsWith('=')) throw new UsageError(`invalid argument ${JSON.stringify(kv)} for "-e, --env" flag: invalid environment variable: ${kv}`);
    if (kv.includes('=')) out.push(kv);
    else if (process.env[kv] !== undefined) out.push(`${kv}=${process.env[kv]}`);
  }
  return out;
}

/** `-w DIR`, which must be absolute (Docker refuses a relative one before creating anything). */
function workdirFlag(flags: Flags): { workdir?: string } {
  const dir = flags.get('workdir');
  if (dir === undefined) return {};
  if (!dir.startsWith('/')) throw new UsageError(`the working directory '${dir}' is invalid, it needs to be an absolute path`);
  return { workdir: dir };
}

// --- create / run ---------------------------------------------------------

const CREATE_FLAGS: FlagSpec[] = [
  STORE,
  { name: 'name', value: true },
  { name: 'interactive', short: 'i' },
  { name: 'tty', short: 't' },
  { name: 'rm' },
  { name: 'env', short: 'e', value: true, repeat: true },
  { name: 'workdir', short: 'w', value: true },
  { name: 'user', short: 'u', value: true },
  { name: 'network', value: true },
  { name: 'publish', short: 'p', value: true, repeat: true },
  { name: 'hostname', value: true },
  { name: 'entrypoint', value: true },
  { name: 'env-file', value: true, repeat: true },
  { name: 'volume', short: 'v', value: true, repeat: true },
  { name: 'mount', value: true, repeat: true },
  { name: 'init' },
  ...unsupportedFlags({
    privileged: [false, 'the sandbox grants no extra privileges'],
    'cap-add': [true, 'the sandbox keeps one fixed set of capabilities'],
    'cap-drop': [true, 'the sandbox keeps one fixed set of capabilities'],
    'security-opt': [true, 'the sandbox has one security profile'],
    device: [true, 'containers get no host devices'],
    gpus: [true, 'containers get no host devices'],
    restart: [true, 'there is no daemon to restart containers'],
    cpus: [true, 'containers have no resource limits'],
    memory: [true, 'containers have no resource limits', 'm'],
    pid: [true, 'a container always has its own process namespace'],
    ipc: [true, 'a container always has its own IPC namespace'],
    userns: [true, 'the user namespace is layerkit\'s (rootless or not)'],
    'log-driver': [true, 'logs are files in the container\'s directory'],
    'log-opt': [true, 'logs are files in the container\'s directory'],
  }),
];

const CREATE_HELP = `      --name NAME        the container's name (default: its short ID)
  -e, --env K=V          set an environment variable (K alone: take it from this environment)
      --env-file FILE    read K=V lines from FILE (# comments and blank lines skipped)
  -v, --volume SRC:DST[:ro]  bind a host directory or file (SRC absolute or ./…;
                         a missing one is made a directory) or a named volume
                         (kept under the store until layerkit volume rm) at DST
      --mount SPEC       type=bind|volume|tmpfs,source=…,target=…[,readonly]
      --init             run a static init as PID 1 that reaps zombies and forwards
                         signals (the host's docker-init or tini-static)
  -w, --workdir DIR      working directory inside the container
  -u, --user USER[:GROUP]  user, by name or id (from the image's /etc/passwd and /etc/group)
      --network bridge|host|none  a network of its own reaching out through slirp4netns
                         (default), the host's, or only a loopback
  -p, --publish [IP:]HOST:CONTAINER[/tcp|udp]  publish a container port on the host
      --hostname NAME    the container's host name (default: its short ID)
      --entrypoint CMD   replace the image's ENTRYPOINT (and its CMD unless one is given)
  -i, --interactive      keep standard input open (attached runs)
  -t, --tty              run the command on a pseudo-terminal
      --rm               remove the container when it exits
${STORE_HELP}`;

/**
 * `--env-file FILE` lines, as Docker reads them: `K=V` kept as written
 * (no quotes removed), `K` alone from this environment, `#` comments and
 * blank lines skipped; `-e` comes after, so it wins.
 */
async function envFileFlags(flags: Flags): Promise<string[]> {
  const out: string[] = [];
  for (const file of flags.all('env-file')) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new UsageError(`--env-file ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    }
    for (const [n, raw] of text.split(/\r?\n/).entries()) {
      const line = raw.replace(/^\s+/, '');
      if (line === '' || line.startsWith('#')) continue;
      const eq = line.indexOf('=');
      const name = eq < 0 ? line.trimEnd() : line.slice(0, eq);
      if (name === '' || /\s/.test(name)) throw new UsageError(`--env-file ${file}:${n + 1}: variable '${name}' contains whitespaces`);
      if (eq >= 0) out.push(`${name}=${line.slice(eq + 1)}`);
      else if (process.env[name] !== undefined) out.push(`${name}=${process.env[name]}`);
    }
  }
  return out;
}

/** `-v` and `--mount`, in the order given (each kind in its order). */
function mountFlags(flags: Flags): { mounts?: ContainerMount[] } {
  const mounts = [...flags.all('volume').map(parseVolumeFlag), ...flags.all('mount').map(parseMountFlag)];
  return mounts.length > 0 ? { mounts } : {};
}

function createOptions(flags: Flags, command: string[], fileEnv: string[] = []) {
  const network = flags.get('network');
  if (network !== undefined && network !== 'bridge' && network !== 'host' && network !== 'none') throw new UsageError(`--network must be bridge, host or none, not ${JSON.stringify(network)}`);
  const ports = flags.all('publish').map((p) => parsePublish(p));
  const entrypoint = flags.get('entrypoint');
  return {
    ...(flags.get('name') !== undefined ? { name: flags.get('name')! } : {}),
    ...(command.length > 0 ? { cmd: command } : {}),
    ...(entrypoint !== undefined ? { entrypoint: entrypoint === '' ? [] : [entrypoint] } : {}),
    env: [...fileEnv, ...envFlags(flags)],
    ...workdirFlag(flags),
    ...(flags.get('user') !== undefined ? { user: flags.get('user')! } : {}),
    ...(network !== undefined ? { network: network as 'bridge' | 'host' | 'none' } : {}),
    ...(ports.length > 0 ? { ports } : {}),
    ...(flags.get('hostname') !== undefined ? { hostname: flags.get('hostname')! } : {}),
    ...mountFlags(flags),
    ...(flags.has('init') ? { init: true } : {}),
    ...(flags.has('tty') ? { tty: true } : {}),
  };
}

const createCommand: Command = {
  name: 'create',
  summary: 'create a container from an image (docker create)',
  usage: `Usage: layerkit create [OPTIONS] IMAGE [COMMAND [ARG...]]\n\nCreates a container and prints its ID; nothing runs until start.\n\n${CREATE_HELP}\n`,
  async run(args, io) {
    const { flags, positional } = parseFlags(args, CREATE_FLAGS, { interspersed: false });
    const [image, ...command] = positional;
    if (image === undefined) throw new UsageError('expected an IMAGE');
    const created = await runtimeOf(flags).create(image, { ...createOptions(flags, command, await envFileFlags(flags)), ...(flags.has('rm') ? { autoRemove: true } : {}) });
    io.stdout(`${created.id}\n`);
    return 0;
  },
};

const runCommand: Command = {
  name: 'run',
  summary: 'run a command in a new container (docker run)',
  usage: `Usage: layerkit run [OPTIONS] IMAGE [COMMAND [ARG...]]

Creates and starts a container. Attached (default): streams its output and
exits with its exit code. Detached (-d): prints its ID.

  -d, --detach           run in the background under a supervisor process
${CREATE_HELP}

Exit status: the command's, or 125 when layerkit fails (as docker run).
`,
  async run(args, io) {
    let flags: Flags;
    let positional: string[];
    try {
      ({ flags, positional } = parseFlags(args, [...CREATE_FLAGS, { name: 'detach', short: 'd' }], { interspersed: false }));
      if (positional.length === 0) throw new UsageError('expected an IMAGE');
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      io.stderr(`layerkit run: ${err.message}\n${err.brief ? '' : `\n${runCommand.usage}`}`);
      return 125;
    }
    const [image, ...command] = positional as [string, ...string[]];
    try {
      const runtime = runtimeOf(flags);
      const options = createOptions(flags, command, await envFileFlags(flags));
      if (flags.has('detach')) {
        const started = await runtime.run(image, { ...options, detach: true, rm: flags.has('rm') });
        io.stdout(`${started.id}\n`);
        return 0;
      }
      const host = hostTerminal(io, flags.has('tty'));
      try {
        const exit = await runtime.run(image, {
          ...options,
          rm: flags.has('rm'),
          ...(flags.has('interactive') && io.stdin ? { stdin: io.stdin } : {}),
          ...(host.terminal ? { terminal: host.terminal } : {}),
          onOutput: outputTo(io),
        });
        return exit.exitCode ?? 0;
      } finally {
        host.restore();
      }
    } catch (err) {
      if (!(err instanceof LayerkitError) && !(err instanceof UsageError)) throw err;
      io.stderr(`layerkit run: ${err.message}\n`);
      return 125;
    }
  },
};

// --- ps ------------------------------------------------------------------

/**
 * Go's text/tabwriter as Docker sets it up for its tables (minimum cell
 * width 10, padding 3, spaces); widths count characters, the last column
 * is not padded.
 */
function dockerTable(rows: string[][]): string {
  const width = (s: string) => [...s].length;
  const columns = rows[0]!.length;
  const widths = Array.from({ length: columns - 1 }, (_, i) => Math.max(10, ...rows.map((r) => width(r[i]!) + 3)));
  return rows.map((r) => r.map((cell, i) => (i < columns - 1 ? cell + ' '.repeat(widths[i]! - width(cell)) : cell)).join('')).join('\n') + '\n';
}

/** Docker's COMMAND: the argv, arguments with a space in single quotes. */
function commandText(argv: string[]): string {
  const [program = '', ...args] = argv;
  return args.length === 0 ? program : `${program} ${args.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')}`;
}

/** Docker's Ellipsis: at most `max` characters, the last one `…` when cut. */
function ellipsis(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : chars.slice(0, max - 1).join('') + '…';
}

function psRow(c: ContainerInfo, truncate: boolean, now: number): string[] {
  const image = truncate && /^sha256:[0-9a-f]{64}$/.test(c.image) ? c.image.slice(7, 19) : c.image;
  const command = commandText(c.argv);
  return [
    truncate ? c.id.slice(0, 12) : c.id,
    image,
    goQuote(truncate ? ellipsis(command, 20) : command, { rawBytes: false }),
    `${humanDuration(Math.max(0, now - Date.parse(c.created)))} ago`,
    statusText(c, now),
    portsText(c),
    c.name,
  ];
}

const psCommand: Command = {
  name: 'ps',
  summary: 'list containers (docker ps)',
  usage: `Usage: layerkit ps [OPTIONS]

  -a, --all        show all containers (default: running and paused ones)
  -q, --quiet      only container IDs
  -s, --size       show each writable layer's size (and, virtual, with its image)
      --no-trunc   do not truncate IDs and commands
      --format T   a Go template per line ({{.ID}} {{.Image}} {{.Command}}
                   {{.CreatedAt}} {{.RunningFor}} {{.State}} {{.Status}}
                   {{.Names}} {{.Size}}), 'table T' with a header, or json
${STORE_HELP}
`,
  async run(args, io) {
    const { flags, positional } = parseFlags(args, [STORE, { name: 'all', short: 'a' }, { name: 'quiet', short: 'q' }, { name: 'no-trunc' }, { name: 'size', short: 's' }, { name: 'format', value: true }]);
    if (positional.length > 0) throw new UsageError('ps takes no arguments');
    const runtime = runtimeOf(flags);
    const list = await runtime.ps({ all: flags.has('all') });
    const truncate = !flags.has('no-trunc');
    if (flags.has('quiet')) {
      io.stdout(list.map((c) => `${truncate ? c.id.slice(0, 12) : c.id}\n`).join(''));
      return 0;
    }
    const now = Date.now();
    const sizes = new Map<string, string>();
    const format = flags.get('format');
    if (flags.has('size') || (format !== undefined && format.includes('.Size'))) {
      for (const c of list) {
        const { rw, rootFs } = await containerSize(runtime, c.id);
        sizes.set(c.id, `${humanSize(rw)} (virtual ${humanSize(rootFs)})`);
      }
    }
    if (format !== undefined) {
      const rows = list.map((c) => psFields(c, truncate, now, sizes.get(c.id) ?? ''));
      io.stdout(format === 'json' ? rows.map((r) => `${JSON.stringify(r)}\n`).join('') : formatList(format, rows, PS_HEADERS));
      return 0;
    }
    const size = flags.has('size');
    const header = ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES', ...(size ? ['SIZE'] : [])];
    io.stdout(dockerTable([header, ...list.map((c) => [...psRow(c, truncate, now), ...(size ? [sizes.get(c.id)!] : [])])]));
    return 0;
  },
};

/** What `ps --format` templates see (Docker's field names). */
function psFields(c: ContainerInfo, truncate: boolean, now: number, size: string): Record<string, string> {
  const [id, image, command, runningFor, status, ports, names] = psRow(c, truncate, now) as [string, string, string, string, string, string, string];
  return { ID: id, Image: image, Command: command, CreatedAt: goTimeText(c.created), RunningFor: runningFor, Ports: ports, State: c.status, Status: status, Size: size, Names: names, Labels: '', Mounts: '', Networks: c.network };
}

const PS_HEADERS: Record<string, string> = {
  ID: 'CONTAINER ID',
  Image: 'IMAGE',
  Command: 'COMMAND',
  CreatedAt: 'CREATED AT',
  RunningFor: 'CREATED',
  Ports: 'PORTS',
  State: 'STATE',
  Status: 'STATUS',
  Size: 'SIZE',
  Names: 'NAMES',
  Labels: 'LABELS',
  Mounts: 'MOUNTS',
  Networks: 'NETWORKS',
};

/** Go's `time.Time.String()` in UTC, as Docker's CreatedAt. */
function goTimeText(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 19).replace('T', ' ')} +0000 UTC`;
}

// --- start / stop / restart / pause / unpause / rm --------------------------

/** A verb applied to each named container in turn; prints each name as given, as Docker; the status is 1 if any failed. */
function eachContainer(names: string[], io: CliIo, command: string, act: (name: string) => Promise<void>): Promise<number> {
  return each(names, io, command, async (name) => {
    await act(name);
    return name;
  });
}

const startCommand: Command = {
  name: 'start',
  summary: 'start stopped containers (docker start)',
  usage: `Usage: layerkit start [OPTIONS] CONTAINER...

Starts containers in the background, keeping their writable layers.

  -a, --attach       stream the output and exit with the container's exit code (one container)
  -i, --interactive  attach standard input
${STORE_HELP}
`,
  async run(args, io) {
    const { flags, positional } = parseFlags(args, [STORE, { name: 'attach', short: 'a' }, { name: 'interactive', short: 'i' }]);
    const runtime = runtimeOf(flags);
    if (flags.has('attach') || flags.has('interactive')) {
      if (positional.length !== 1) throw new UsageError('attaching needs exactly one CONTAINER');
      const exit = await runtime.start(positional[0]!, {
        attach: true,
        ...(flags.has('interactive') && io.stdin ? { stdin: io.stdin } : {}),
        onOutput: outputTo(io),
      });
      return exit.exitCode ?? 0;
    }
    return eachContainer(positional, io, 'start', async (name) => void (await runtime.start(name)));
  },
};

function timeoutMs(flags: Flags): number | undefined {
  const text = flags.get('time');
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new UsageError(`--time must be a number of seconds, not ${JSON.stringify(text)}`);
  return Number(text) * 1000;
}

const TIME_FLAG: FlagSpec = { name: 'time', short: 't', value: true };

/** `stop` and `restart`: the same flags, one runtime call per container. */
function stopLike(name: 'stop' | 'restart', summary: string): Command {
  return {
    name,
    summary,
    usage: `Usage: layerkit ${name} [OPTIONS] CONTAINER...

  -t, --time SECONDS  seconds to wait after SIGTERM before SIGKILL (default 10)
${STORE_HELP}
`,
    async run(args, io) {
      const { flags, positional } = parseFlags(args, [STORE, TIME_FLAG]);
      const runtime = runtimeOf(flags);
      const wait = timeoutMs(flags);
      const options = wait === undefined ? {} : { timeoutMs: wait };
      return eachContainer(positional, io, name, async (container) => void (await runtime[name](container, options)));
    },
  };
}

const stopCommand = stopLike('stop', 'stop running containers: SIGTERM, then SIGKILL (docker stop)');
const restartCommand = stopLike('restart', 'stop and start containers again (docker restart)');

function freezeCommand(name: 'pause' | 'unpause'): Command {
  return {
    name,
    summary: name === 'pause' ? 'freeze every process of containers (docker pause; cgroup v2 freezer)' : 'thaw paused containers (docker unpause)',
    usage: `Usage: layerkit ${name} [OPTIONS] CONTAINER...\n\n${
      name === 'pause' ? 'Needs a cgroup v2 that can be written (root, or a delegated cgroup); the error says why not.\n\n' : ''
    }${STORE_HELP}\n`,
    async run(args, io) {
      const { flags, positional } = parseFlags(args, [STORE]);
      const runtime = runtimeOf(flags);
      return eachContainer(positional, io, name, async (c) => void (await runtime[name](c)));
    },
  };
}

const rmCommand: Command = {
  name: 'rm',
  summary: 'remove containers (docker rm)',
  usage: `Usage: layerkit rm [OPTIONS] CONTAINER...

  -f, --force  stop (SIGKILL) a running or paused container first
${STORE_HELP}
`,
  async run(args, io) {
    const { flags, positional } = parseFlags(args, [STORE, { name: 'force', short: 'f' }]);
    const runtime = runtimeOf(flags);
    return eachContainer(positional, io, 'rm', (name) => runtime.rm(name, { force: flags.has('force') }));
  },
};

// --- exec / logs -------------------------------------------------------------

const execCommand: Command = {
  name: 'exec',
  summary: 'run a command in a running container (docker exec)',
  usage: `Usage: layerkit exec [OPTIONS] CONTAINER COMMAND [ARG...]

Exits with the command's exit code.

  -e, --env K=V        set an environment variable
  -w, --workdir DIR    working directory (default: the container's)
  -u, --user USER[:GROUP]  run as this user (default: the container's)
  -d, --detach         run it in the background (its output is not kept)
  -i, --interactive    attach standard input
  -t, --tty            run the command on a pseudo-terminal
${STORE_HELP}
`,
  async run(args, io) {
    const { flags, positional } = parseFlags(
      args,
      [
        STORE,
        { name: 'env', short: 'e', value: true, repeat: true },
        { name: 'workdir', short: 'w', value: true },
        { name: 'user', short: 'u', value: true },
        { name: 'detach', short: 'd' },
        { name: 'interactive', short: 'i' },
        { name: 'tty', short: 't' },
      ],
      { interspersed: false },
    );
    const [container, ...command] = positional;
    if (container === undefined || command.length === 0) throw new UsageError('expected a CONTAINER and a COMMAND');
    if (flags.has('detach')) {
      if (flags.has('interactive') || flags.has('tty')) throw new UsageError('-d cannot be combined with -i or -t');
      await runtimeOf(flags).inspect(container).then((c) => {
        if (c.status !== 'running') throw new UsageError(`container ${c.name} is not running`);
      });
      detachedExec(flags, container, command);
      return 0;
    }
    const host = hostTerminal(io, flags.has('tty'));
    try {
      const exit = await runtimeOf(flags).exec(container, command, {
        env: envFlags(flags),
        ...workdirFlag(flags),
        ...(flags.get('user') !== undefined ? { user: flags.get('user')! } : {}),
        ...(flags.has('interactive') && io.stdin ? { stdin: io.stdin } : {}),
        ...(flags.has('tty') ? { tty: true } : {}),
        ...(host.terminal ? { terminal: host.terminal } : {}),
        onOutput: outputTo(io),
      });
      return exit.exitCode;
    } finally {
      host.restore();
    }
  },
};

/**
 * `exec -d`: the same exec, attached, in a process of its own that outlives
 * this one (output discarded, as Docker does for a detached exec).
 */
function detachedExec(flags: Flags, container: string, command: string[]): void {
  const self = import.meta.url.endsWith('.ts') ? '../main.ts' : '../main.js';
  const loader = import.meta.url.endsWith('.ts') ? ['--import', import.meta.resolve('tsx')] : [];
  const args = [
    ...(flags.get('store') !== undefined ? ['--store', flags.get('store')!] : []),
    ...flags.all('env').flatMap((e) => ['-e', e]),
    ...(flags.get('workdir') !== undefined ? ['-w', flags.get('workdir')!] : []),
    ...(flags.get('user') !== undefined ? ['-u', flags.get('user')!] : []),
    container,
    ...command,
  ];
  const child = spawn(process.execPath, [...loader, fileURLToPath(new URL(self, import.meta.url)), 'exec', ...args], { detached: true, stdio: 'ignore' });
  child.unref();
}

const logsCommand: Command = {
  name: 'logs',
  summary: "print a container's output (docker logs)",
  usage: `Usage: layerkit logs [OPTIONS] CONTAINER

What the container wrote: its stdout to stdout, its stderr to stderr, in
the order it wrote them.

  -f, --follow        keep printing new output until the container stops
  -n, --tail N        only the last N lines (all: every line)
  -t, --timestamps    start each line with its time (RFC 3339, UTC, nanoseconds)
      --since TIME    only lines from TIME on
      --until TIME    only lines up to TIME (-f stops then)
${STORE_HELP}
TIME is an RFC 3339 time (2024-05-01T12:00:00Z, with fractional seconds,
a zone or none for local time, or a date), a Unix time (seconds[.nanos])
or a duration before now (10m, 1h30m).
`,
  async run(args, io) {
    const { flags, positional } = parseFlags(args, [
      STORE,
      { name: 'follow', short: 'f' },
      { name: 'tail', short: 'n', value: true },
      { name: 'timestamps', short: 't' },
      { name: 'since', value: true },
      { name: 'until', value: true },
      ...unsupportedFlags({
        details: [false, 'containers have no log labels'],
      }),
    ]);
    if (positional.length !== 1) throw new UsageError('expected exactly one CONTAINER');
    const tailText = flags.get('tail');
    if (tailText !== undefined && tailText !== 'all' && !/^-?\d+$/.test(tailText)) throw new UsageError(`--tail expects a number of lines or all, got ${JSON.stringify(tailText)}`);
    // Docker reads a negative --tail as all.
    const tail = tailText === undefined || tailText === 'all' || Number(tailText) < 0 ? undefined : Number(tailText);
    const now = Date.now();
    const sinceText = flags.get('since');
    const untilText = flags.get('until');
    const since = sinceText === undefined ? undefined : parseLogTime(sinceText, now, '--since');
    const until = untilText === undefined ? undefined : parseLogTime(untilText, now, '--until');
    const write = io.write ? (stream: 'stdout' | 'stderr', bytes: Uint8Array) => io.write!(stream, bytes) : outputTo(io);
    await containerLogs(runtimeOf(flags), positional[0]!, write, {
      ...(tail === undefined ? {} : { tail }),
      ...(since === undefined ? {} : { since }),
      ...(until === undefined ? {} : { until }),
      follow: flags.has('follow'),
      timestamps: flags.has('timestamps'),
    });
    return 0;
  },
};

// --- commit / cp / diff ------------------------------------------------------

const commitCommand: Command = {
  name: 'commit',
  summary: "make an image from a container's changes (docker commit)",
  usage: `Usage: layerkit commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]

Stores a new image: the container's image, its writable layer and its
configuration (Env, Cmd, Entrypoint, WorkingDir, User). Prints the image ID.

  -m, --message TEXT  the history entry's comment
  -a, --author TEXT   the image's author
  -p, --pause         freeze the container while committing (default true; --pause=false to not)
${STORE_HELP}
`,
  async run(args, io) {
    const { flags, positional } = parseFlags(args, [STORE, { name: 'message', short: 'm', value: true }, { name: 'author', short: 'a', value: true }, { name: 'pause', short: 'p' }]);
    if (positional.length < 1 || positional.length > 2) throw new UsageError('expected CONTAINER and an optional REPOSITORY[:TAG]');
    const result = await runtimeOf(flags).commit(positional[0]!, {
      ...(positional[1] !== undefined ? { reference: positional[1] } : {}),
      ...(flags.get('message') !== undefined ? { message: flags.get('message')! } : {}),
      ...(flags.get('author') !== undefined ? { author: flags.get('author')! } : {}),
      pause: !flags.given('pause') || flags.has('pause'),
    });
    io.stdout(`${result.id}\n`);
    return 0;
  },
};

/** Docker's reading of a `cp` argument: `CONTAINER:PATH` unless it starts with `/` or `.` (a local path may contain `:`). */
function copyEnd(arg: string): { container: string; path: string } | { path: string } {
  if (arg.startsWith('/') || arg.startsWith('.')) return { path: arg };
  const colon = arg.indexOf(':');
  if (colon <= 0) return { path: arg };
  return { container: arg.slice(0, colon), path: arg.slice(colon + 1) || '/' };
}

const cpCommand: Command = {
  name: 'cp',
  summary: 'copy files between a container and the host (docker cp)',
  usage: `Usage: layerkit cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH
       layerkit cp [OPTIONS] SRC_PATH CONTAINER:DEST_PATH

Directories are copied whole, symlinks as symlinks; SRC_PATH ending in /.
copies a directory's content. Into a container: written into its writable
layer (running or not), owned by root unless -a; paths resolve inside the
container's root. Out of it: read through the container's file system.

  -a, --archive  keep uid/gid (into a container: where this process may set owners)
${STORE_HELP}
`,
  async run(args, io) {
    const { flags, positional } = parseFlags(args, [STORE, { name: 'archive', short: 'a' }]);
    if (positional.length !== 2) throw new UsageError('expected SRC and DEST');
    const [from, to] = [copyEnd(positional[0]!), copyEnd(positional[1]!)];
    if (positional.includes('-')) throw new UsageError('tar streams on stdin/stdout (-) are not supported');
    if ('container' in from && 'container' in to) throw new UsageError('copying between containers is not supported');
    if (!('container' in from) && !('container' in to)) throw new UsageError('one of SRC and DEST must be CONTAINER:PATH');
    const runtime = runtimeOf(flags);
    const archive = { archive: flags.has('archive') };
    if ('container' in from) await runtime.copyOut(from.container, from.path, to.path, archive);
    else if ('container' in to) await runtime.copyIn(to.container, from.path, to.path, archive);
    void io;
    return 0;
  },
};

const LETTER = { add: 'A', modify: 'C', delete: 'D' } as const;

const diffCommand: Command = {
  name: 'diff',
  summary: "a container's changes to its image, or one image's to another (A/C/D)",
  usage: `Usage: layerkit diff [OPTIONS] CONTAINER
       layerkit diff [OPTIONS] IMAGE1 IMAGE2

With a container: what it changed in its image's file system (docker diff).
With two images: what changes the first image's file system into the
second's. One line per path: A added, C changed, D deleted (a deleted
directory once); parents before children.

${STORE_HELP}
`,
  async run(args, io) {
    const { flags, positional } = parseFlags(args, [STORE]);
    if (positional.length === 1) {
      const changes = await runtimeOf(flags).diff(positional[0]!);
      io.stdout(changes.map((c) => `${LETTER[c.kind]} ${c.path}\n`).join(''));
      return 0;
    }
    if (positional.length !== 2) throw new UsageError('expected one CONTAINER, or IMAGE1 and IMAGE2');
    const store = runtimeOf(flags).store;
    const [a, b] = await Promise.all(positional.map((ref) => store.getImage(ref)));
    io.stdout((await diffImages(a!, b!)).map((c) => `${LETTER[c.kind]} ${c.path}\n`).join(''));
    return 0;
  },
};

/** The container verbs, in the order `layerkit --help` lists them. */
export const containerCommands: readonly Command[] = [
  createCommand,
  runCommand,
  psCommand,
  startCommand,
  stopCommand,
  restartCommand,
  freezeCommand('pause'),
  freezeCommand('unpause'),
  execCommand,
  logsCommand,
  commitCommand,
  cpCommand,
  diffCommand,
  rmCommand,
];
