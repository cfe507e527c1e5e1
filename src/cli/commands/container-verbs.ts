/**
 * `kill`, `wait`, `top` and `import`: the Docker verbs that signal or watch
 * a container, and the one that turns a root file system tarball into an
 * image.
 * @module
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ContainerRuntime,
  importRootfs,
  killContainer,
  layerFromTarFile,
  LayerkitError,
  listVolumes,
  makeScratchDir,
  parsePlatform,
  parseVolumeFlag,
  prepareMounts,
  removeVolume,
  storeTmp,
  topContainer,
  waitContainer,
} from '../../index.js';
import { readAll } from '../build-inputs.js';
import { parseFlags, UsageError, type CliIo, type Command, type Flags } from '../io.js';
import { terminalOf, type TerminalIo } from '../terminal.js';
import { openStore, STORE_FLAG as STORE, STORE_OPTION as STORE_HELP } from './transfer.js';

function runtimeOf(flags: Flags): ContainerRuntime {
  return new ContainerRuntime(openStore(flags));
}

/** Each container in turn, printing what `act` returns; the status is 1 if any failed (each failure said on its own line). */
export async function each(names: string[], io: CliIo, verb: string, act: (name: string) => Promise<string | undefined>): Promise<number> {
  if (names.length === 0) throw new UsageError('expected at least one CONTAINER');
  let status = 0;
  for (const name of names) {
    try {
      const out = await act(name);
      if (out !== undefined) io.stdout(`${out}\n`);
    } catch (err) {
      if (!(err instanceof LayerkitError)) throw err;
      io.stderr(`layerkit ${verb}: ${err.message}\n`);
      status = 1;
    }
  }
  return status;
}

const killCommand: Command = {
  name: 'kill',
  summary: 'send a signal to running containers (docker kill)',
  usage: `Usage: layerkit kill [OPTIONS] CONTAINER...

Sends SIGKILL, or the signal given, to each container's main process.

  -s, --signal SIG   a signal name (KILL, SIGHUP, term) or number
${STORE_HELP}
`,
  async run(args, io) {
    const { flags, positional } = parseFlags(args, [STORE, { name: 'signal', short: 's', value: true }]);
    const runtime = runtimeOf(flags);
    const signal = flags.get('signal') ?? 'KILL';
    return each(positional, io, 'kill', async (name) => {
      await killContainer(runtime, name, signal);
      return name;
    });
  },
};

const waitCommand: Command = {
  name: 'wait',
  summary: 'wait for containers to stop and print their exit codes (docker wait)',
  usage: `Usage: layerkit wait [OPTIONS] CONTAINER...

Blocks until each container stops, then prints its exit code.

${STORE_HELP}
`,
  async run(args, io) {
    const { flags, positional } = parseFlags(args, [STORE]);
    const runtime = runtimeOf(flags);
    return each(positional, io, 'wait', async (name) => String(await waitContainer(runtime, name)));
  },
};

const topCommand: Command = {
  name: 'top',
  summary: "list a running container's processes (docker top)",
  usage: `Usage: layerkit top [OPTIONS] CONTAINER

The container's processes as the host sees them: user id, host pid,
parent pid and command line.

${STORE_HELP}
`,
  async run(args, io) {
    const { flags, positional } = parseFlags(args, [STORE]);
    if (positional.length !== 1) throw new UsageError('expected exactly one CONTAINER');
    const processes = await topContainer(runtimeOf(flags), positional[0]!);
    const rows = [['UID', 'PID', 'PPID', 'CMD'], ...processes.map((p) => [String(p.uid), String(p.pid), String(p.ppid), p.cmd])];
    const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
    io.stdout(rows.map((r) => r.map((c, i) => (i < 3 ? c.padEnd(widths[i]! + 3) : c)).join('')).join('\n') + '\n');
    return 0;
  },
};

const importCommand: Command = {
  name: 'import',
  summary: 'make an image from a root file system tarball (docker import)',
  usage: `Usage: layerkit import [OPTIONS] FILE|- [REPOSITORY[:TAG]]

Stores a one-layer image of the tarball's files (plain, gzip or zstd),
read from FILE or standard input, and prints its ID.

  -c, --change LINE   apply a Dockerfile instruction to the config: CMD,
                      ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL,
                      USER, VOLUME, WORKDIR (repeatable)
  -m, --message TEXT  the history entry's comment
      --platform P    the image's OS/ARCH (default the host's)
${STORE_HELP}
`,
  async run(args, io: CliIo & TerminalIo) {
    const { flags, positional } = parseFlags(args, [
      STORE,
      { name: 'change', short: 'c', value: true, repeat: true },
      { name: 'message', short: 'm', value: true },
      { name: 'platform', value: true },
    ]);
    if (positional.length < 1 || positional.length > 2) throw new UsageError('expected FILE (or -) and an optional REPOSITORY[:TAG]');
    const [source, tag] = positional as [string, string | undefined];
    const platform = flags.get('platform');
    const options = {
      changes: flags.all('change'),
      ...(flags.get('message') !== undefined ? { message: flags.get('message')! } : {}),
      ...(platform !== undefined ? { platform: parsePlatform(platform) } : {}),
    };
    const store = openStore(flags);
    let spool: string | undefined;
    try {
      let file = source;
      if (source === '-') {
        if (io.stdin === undefined || terminalOf(io).isTTY('stdin')) {
          io.stderr('layerkit import: nothing to read: standard input is a terminal; give a FILE or redirect it\n');
          return 1;
        }
        // The layer is read more than once (digests, then the store): standard input goes to a file first,
        // in the store's scratch, owned by this process, so a killed import's is swept by the next command.
        spool = await makeScratchDir(storeTmp(store.root), 'import');
        file = join(spool, 'rootfs.tar');
        await writeFile(file, await readAll(io.stdin));
      }
      const image = importRootfs(layerFromTarFile(file), options);
      const stored = await store.putImage(image, tag === undefined ? [] : [tag]);
      io.stdout(`${stored.id}\n`);
      return 0;
    } finally {
      if (spool !== undefined) await rm(spool, { recursive: true, force: true });
    }
  },
};

const volumeCommand: Command = {
  name: 'volume',
  summary: 'list, create or remove named volumes (docker volume)',
  usage: `Usage: layerkit volume ls [OPTIONS]
       layerkit volume create [OPTIONS] NAME
       layerkit volume rm [OPTIONS] NAME...

Named volumes are directories under the store (volumes/NAME/_data) that
run -v NAME:/path mounts; they stay until removed.

  -q, --quiet   ls: only the names
${STORE_HELP}
`,
  async run(args, io) {
    const { flags, positional: words } = parseFlags(args, [STORE, { name: 'quiet', short: 'q' }]);
    const [sub, ...positional] = words;
    const runtime = runtimeOf(flags);
    const root = runtime.store.root;
    if (sub === 'ls' || sub === 'list') {
      const names = await listVolumes(root);
      io.stdout(flags.has('quiet') ? names.map((n) => `${n}\n`).join('') : `DRIVER    VOLUME NAME\n${names.map((n) => `local     ${n}\n`).join('')}`);
      return 0;
    }
    if (sub === 'create') {
      if (positional.length !== 1) throw new UsageError('expected one NAME');
      const mount = parseVolumeFlag(`${positional[0]}:/volume`);
      // A path would be a bind mount's source (and be made as a directory): only names are volumes.
      if (mount.type !== 'volume') throw new UsageError(`invalid volume name ${JSON.stringify(positional[0])}: [a-zA-Z0-9][a-zA-Z0-9_.-]* only`);
      await prepareMounts(root, [mount]);
      io.stdout(`${positional[0]}\n`);
      return 0;
    }
    if (sub === 'rm' || sub === 'remove') {
      const containers = await runtime.ps({ all: true });
      return each(positional, io, 'volume rm', async (name) => {
        const users = containers.filter((c) => c.mounts?.some((m) => m.type === 'volume' && m.source === name)).map((c) => c.name);
        await removeVolume(root, name, users);
        return name;
      });
    }
    throw new UsageError(sub === undefined ? 'expected ls, create or rm' : `unknown volume command ${JSON.stringify(sub)} (expected ls, create or rm)`);
  },
};

/** `kill`, `wait`, `top`, `import`, `volume`, in the order `layerkit --help` lists them. */
export const containerVerbCommands: readonly Command[] = [killCommand, waitCommand, topCommand, importCommand, volumeCommand];
