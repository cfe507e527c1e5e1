/**
 * Registry verbs: `pull`, `push`, `login`, `logout`, shaped like the Docker
 * CLI's, on the public registry API.
 * @module
 */
import { formatPlatform, login, logout, parsePlatform, parseReference, pull, push, type RegistryEvent } from '../../index.js';
import { parseFlags, UsageError, type CliIo, type Command } from '../io.js';
import { humanSize, openStore, STORE_FLAG, STORE_OPTION } from './transfer.js';

const REGISTRY_NOTES = `Plain HTTP is used only for loopback registries (localhost, 127.0.0.0/8, ::1)
and those listed in $LAYERKIT_INSECURE_REGISTRIES (comma-separated host[:port]).
Credentials come from Docker's config.json ($DOCKER_CONFIG or ~/.docker),
including credsStore / credHelpers; CA certificates from certs.d/HOST:PORT/
under $DOCKER_CONFIG, /etc/docker and /etc/containers.`;

function short(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1, digest.indexOf(':') + 13);
}

/** Progress lines as `docker pull` / `docker push` print them without a terminal: one line per change, bytes at most once a second. */
function progressPrinter(io: CliIo, direction: 'pull' | 'push', quiet: boolean): (e: RegistryEvent) => void {
  const lastPrinted = new Map<string, number>();
  const verbs = direction === 'pull' ? { moving: 'Downloading', done: 'Pull complete' } : { moving: 'Pushing', done: 'Pushed' };
  return (e) => {
    if (quiet) return;
    if (e.type === 'retry') {
      io.stderr(`${e.operation}: ${e.reason}; retrying in ${(e.delayMs / 1000).toFixed(1)}s (attempt ${e.attempt})\n`);
      return;
    }
    if (!('direction' in e) || e.direction !== direction) return;
    const id = short(e.digest);
    if (e.type === 'blob-start') {
      if (direction === 'pull') io.stdout(`${id}: Pulling fs layer\n`);
    } else if (e.type === 'blob-progress') {
      const now = Date.now();
      if (now - (lastPrinted.get(id) ?? 0) < 1000 || e.bytes === e.total) return;
      lastPrinted.set(id, now);
      io.stdout(`${id}: ${verbs.moving} ${humanSize(e.bytes)}/${e.total >= 0 ? humanSize(e.total) : '?'}\n`);
    } else if (e.type === 'blob-done') {
      const text = { downloaded: verbs.done, uploaded: verbs.done, present: 'Already exists', exists: 'Layer already exists', mounted: 'Mounted from another repository' }[e.result];
      io.stdout(`${id}: ${text}\n`);
    }
  };
}

const pullUsage = `Usage: layerkit pull [--platform P] [-q] [--store DIR] NAME[:TAG|@DIGEST]

Downloads an image from a registry into the local store and tags it
(a digest reference is stored untagged). Layers the store already has are
not downloaded; every blob is verified against its digest before it is kept.

      --platform P   os/arch[/variant] to pick from a multi-platform image
                     (default: this machine's)
  -q, --quiet        print only the image's name
${STORE_OPTION}

${REGISTRY_NOTES}
`;

const pullCommand: Command = {
  name: 'pull',
  summary: 'download an image from a registry',
  usage: pullUsage,
  async run(args: string[], io: CliIo): Promise<number> {
    const { flags, positional } = parseFlags(args, [STORE_FLAG, { name: 'platform', value: true }, { name: 'quiet', short: 'q' }]);
    if (positional.length !== 1) throw new UsageError('expected exactly one NAME');
    const platformText = flags.get('platform');
    const platform = platformText !== undefined ? parsePlatform(platformText) : undefined;
    const quiet = flags.has('quiet');
    const reference = parseReference(positional[0]!);
    if (!quiet) io.stdout(`${reference.tag ?? reference.digest}: Pulling from ${reference.domain === 'docker.io' ? reference.path : reference.name}\n`);
    const store = openStore(flags);
    const print = progressPrinter(io, 'pull', quiet);
    let downloaded = false;
    const onEvent = (e: RegistryEvent) => {
      if (e.type === 'blob-done' && e.result === 'downloaded') downloaded = true;
      print(e);
    };
    const result = await pull(positional[0]!, store, { ...(platform ? { platform } : {}), onEvent });
    if (!quiet) {
      const config = await result.image.config();
      io.stdout(`Digest: ${result.resolvedDigest}\n`);
      if (platform) io.stdout(`Platform: ${formatPlatform({ os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) })}\n`);
      io.stdout(`Status: ${downloaded ? 'Downloaded newer image' : 'Image is up to date'} for ${reference.familiar}\n`);
    }
    io.stdout(`${reference.canonical}\n`);
    return 0;
  },
};

const pushUsage = `Usage: layerkit push [-q] [--store DIR] NAME[:TAG] [TARGET[:TAG]]

Uploads an image from the local store to a registry: to the registry NAME
names (as docker push does), or to TARGET when given. Blobs the registry has
are skipped, and layers that came from another repository of the same
registry are mounted rather than uploaded. The manifest is pushed byte for
byte, so the image keeps its digest.

  -q, --quiet        print only the pushed digest
${STORE_OPTION}

${REGISTRY_NOTES}
`;

const pushCommand: Command = {
  name: 'push',
  summary: 'upload an image to a registry',
  usage: pushUsage,
  async run(args: string[], io: CliIo): Promise<number> {
    const { flags, positional } = parseFlags(args, [STORE_FLAG, { name: 'quiet', short: 'q' }]);
    if (positional.length < 1 || positional.length > 2) throw new UsageError('expected NAME and an optional TARGET');
    const quiet = flags.has('quiet');
    const target = parseReference(positional[1] ?? positional[0]!);
    if (!quiet) io.stdout(`The push refers to repository [${target.name}]\n`);
    const result = await push(openStore(flags), positional[0]!, positional[1], { onEvent: progressPrinter(io, 'push', quiet) });
    io.stdout(quiet ? `${result.digest}\n` : `${target.tag ?? 'latest'}: digest: ${result.digest} size: ${result.size}\n`);
    return 0;
  },
};

const loginUsage = `Usage: layerkit login [-u USER] [-p PASSWORD | --password-stdin] [SERVER]

Checks credentials against a registry and saves them in Docker's config.json
($DOCKER_CONFIG or ~/.docker), through its credsStore / credHelpers when
configured. SERVER defaults to Docker Hub.

  -u, --username USER   user name
  -p, --password PASS   password or token (visible to other users: prefer --password-stdin)
      --password-stdin  read the password from standard input
`;

const loginCommand: Command = {
  name: 'login',
  summary: 'save credentials for a registry',
  usage: loginUsage,
  async run(args: string[], io: CliIo): Promise<number> {
    const { flags, positional } = parseFlags(args, [
      { name: 'username', short: 'u', value: true },
      { name: 'password', short: 'p', value: true },
      { name: 'password-stdin' },
    ]);
    if (positional.length > 1) throw new UsageError('expected at most one SERVER');
    const server = positional[0] ?? 'docker.io';
    const username = flags.get('username');
    let password = flags.get('password');
    if (flags.has('password-stdin')) {
      if (password !== undefined) throw new UsageError('--password and --password-stdin are mutually exclusive');
      if (username === undefined) throw new UsageError('--password-stdin needs --username');
      password = (await io.readText('-')).replace(/\r?\n$/, '');
    } else if (password !== undefined) {
      io.stderr('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
    }
    if (username === undefined || password === undefined || username === '' || password === '') {
      throw new UsageError('give a username (-u) and a password (-p or --password-stdin)');
    }
    const { registry } = await login(server, { username, password });
    io.stdout(`Login Succeeded (${registry})\n`);
    return 0;
  },
};

const logoutUsage = `Usage: layerkit logout [SERVER]

Removes the saved credentials of a registry (config.json and its credential
helper). SERVER defaults to Docker Hub.
`;

const logoutCommand: Command = {
  name: 'logout',
  summary: 'remove saved credentials of a registry',
  usage: logoutUsage,
  async run(args: string[], io: CliIo): Promise<number> {
    const { positional } = parseFlags(args, []);
    if (positional.length > 1) throw new UsageError('expected at most one SERVER');
    const server = positional[0] ?? 'docker.io';
    const removed = await logout(server);
    io.stdout(removed ? `Removing login credentials for ${server}\n` : `Not logged in to ${server}\n`);
    return 0;
  },
};

/** The registry verbs. */
export const registryCommands: readonly Command[] = [pullCommand, pushCommand, loginCommand, logoutCommand];
