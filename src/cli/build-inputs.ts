/**
 * What `layerkit build` reads and writes besides the build itself, in
 * `docker build`'s spelling: a context or Dockerfile on standard input
 * (`build -`, `-f -`), `--secret` and `--ssh` specs, and the exporters that
 * write the final stage's files (`-o type=local,dest=DIR`, `-o
 * type=tar,dest=FILE|-`, `-o DIR`, `-o -`).
 * @module
 */
import { createWriteStream } from 'node:fs';
import { extractLayer, type Image, layerFromTarFile, makeScratchDir, type SecretSource, specFields, squash, type SshAgent, startSshAgent, storeTmp } from '../index.js';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { UsageError } from './io.js';

/** Reads a whole stream. */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/**
 * Whether bytes on standard input are an archive (a tar, plain or
 * compressed) rather than a Dockerfile, as `docker build -` tells them
 * apart.
 */
export function isArchive(bytes: Uint8Array): boolean {
  const b = Buffer.from(bytes.subarray(0, 6));
  // gzip, bzip2, xz, zstd: what docker build accepts compressed.
  if (b[0] === 0x1f && b[1] === 0x8b) return true;
  if (b.subarray(0, 3).toString('latin1') === 'BZh') return true;
  if (b.equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return true;
  if (b.length >= 4 && b.readUInt32LE(0) === 0xfd2fb528) return true;
  return bytes.length >= 262 && Buffer.from(bytes.subarray(257, 262)).toString('latin1') === 'ustar';
}

/**
 * The context `build -` reads: a tar (plain or compressed) on standard input
 * unpacked into a private directory — paths stay inside it, devices are
 * not created — or, when standard input holds a Dockerfile, an empty
 * context and that text. `dispose` removes the directory. The directory is
 * scratch of the store at `storeRoot`, owned by this process, so a build
 * killed with `kill -9` leaves nothing in `$TMPDIR` and the next command
 * sweeps it.
 */
export async function stdinContext(bytes: Uint8Array, storeRoot: string): Promise<{ dir: string; dockerfileText?: string; dispose: () => Promise<void> }> {
  const dir = await makeScratchDir(storeTmp(storeRoot), 'context');
  const dispose = () => rm(dir, { recursive: true, force: true });
  try {
    if (!isArchive(bytes)) return { dir, dockerfileText: Buffer.from(bytes).toString('utf8'), dispose };
    const head = Buffer.from(bytes.subarray(0, 3));
    if (head.toString('latin1') === 'BZh' || (head[0] === 0xfd && head[1] === 0x37)) {
      throw new UsageError('a bzip2 or xz context on standard input is not supported: send a plain, gzip or zstd tar');
    }
    const file = join(dir, '.stdin.tar');
    await writeFile(file, bytes);
    const root = join(dir, 'context');
    await extractLayer(layerFromTarFile(file), root, { devices: 'skip', owners: false });
    await rm(file);
    return { dir: root, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}

function fields(spec: string, option: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const { key, value, raw } of specFields(spec, (reason) => new UsageError(`--${option} ${JSON.stringify(spec)}: ${reason}`))) {
    if (value === undefined || key === '') throw new UsageError(`--${option} expects key=value fields, got ${JSON.stringify(raw)} in ${JSON.stringify(spec)}`);
    out.set(key, value);
  }
  return out;
}

/**
 * `--secret id=ID[,src=FILE|,env=VAR][,type=file|env]`, as buildx reads it:
 * `source` and `src` are one key; an id alone takes the environment
 * variable of that name.
 *
 * @example
 * ```ts
 * parseSecrets(['id=npm,src=/home/me/.npmrc', 'id=TOKEN']); // { npm: { file: '/home/me/.npmrc' }, TOKEN: { env: 'TOKEN' } }
 * ```
 */
export function parseSecrets(specs: string[]): Record<string, SecretSource> {
  const out: Record<string, SecretSource> = {};
  for (const spec of specs) {
    const f = fields(spec, 'secret');
    const id = f.get('id');
    if (!id) throw new UsageError(`--secret needs id=…, got ${JSON.stringify(spec)}`);
    const src = f.get('src') ?? f.get('source');
    const env = f.get('env');
    const type = f.get('type');
    if (type !== undefined && type !== 'file' && type !== 'env') throw new UsageError(`--secret type must be file or env, got ${JSON.stringify(type)}`);
    for (const key of f.keys()) if (!['id', 'src', 'source', 'env', 'type'].includes(key)) throw new UsageError(`--secret: unknown key ${JSON.stringify(key)} in ${JSON.stringify(spec)}`);
    if (type === 'env' || (env !== undefined && src === undefined)) out[id] = { env: env ?? src ?? id };
    else if (src !== undefined) out[id] = { file: src };
    else out[id] = { env: id };
  }
  return out;
}

/** What one `--ssh` id is served from: an agent's socket, or private key files for an agent of layerkit's own. */
export type SshSpec = { socket: string } | { keys: string[] };

/**
 * `--ssh default` (the agent at `$SSH_AUTH_SOCK`), `--ssh ID=SOCKET`, or
 * `--ssh ID=KEY[,KEY…]` (private key files, served by an agent of
 * layerkit's own for the build: see {@link sshAgents}), as buildx reads
 * them. A leading `~/` in a path is the home directory (`$HOME`).
 *
 * @example
 * ```ts
 * await parseSsh(['default']);                  // { default: { socket: process.env.SSH_AUTH_SOCK } }
 * await parseSsh(['git=/home/me/.ssh/id_ed25519']); // { git: { keys: ['/home/me/.ssh/id_ed25519'] } }
 * await parseSsh(['git=~/.ssh/id_ed25519']);         // the same, with HOME=/home/me
 * ```
 */
export async function parseSsh(specs: string[], env: NodeJS.ProcessEnv = process.env): Promise<Record<string, SshSpec>> {
  const out: Record<string, SshSpec> = {};
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const id = eq < 0 ? spec : spec.slice(0, eq);
    // `~/` as the shell would have expanded it (it does not after `ID=`), as docker's CLI does.
    const home = env['HOME'] || homedir();
    const paths = eq < 0 ? [] : spec.slice(eq + 1).split(',').filter(Boolean).map((p) => (p === '~' ? home : p.startsWith('~/') ? join(home, p.slice(2)) : p));
    if (id === '') throw new UsageError(`--ssh expects default or ID[=SOCKET|KEY[,KEY…]], got ${JSON.stringify(spec)}`);
    if (paths.length === 0) {
      const socket = env['SSH_AUTH_SOCK'];
      if (socket === undefined || socket === '') throw new UsageError(`--ssh ${id}: no socket or key given and SSH_AUTH_SOCK is not set`);
      paths.push(socket);
    }
    const kinds: Array<'socket' | 'key'> = [];
    for (const path of paths) {
      const info = await stat(path).catch(() => undefined);
      if (!info) throw new UsageError(`--ssh ${id}: ${path} does not exist`);
      if (info.isSocket()) kinds.push('socket');
      else if (info.isFile()) kinds.push('key');
      else throw new UsageError(`--ssh ${id}: ${path} is neither an agent socket nor a private key file`);
    }
    if (kinds.includes('socket') && paths.length > 1) throw new UsageError(`--ssh ${id}: one agent socket, or private key files, not both`);
    out[id] = kinds[0] === 'socket' ? { socket: paths[0]! } : { keys: paths.map((p) => resolve(p)) };
  }
  return out;
}

/**
 * The agent sockets of `--ssh` specs for `build({ ssh })`: the sockets as
 * given, and for each id given key files an agent of layerkit's own
 * ({@link startSshAgent}) on a socket in the store's scratch, stopped and
 * removed by `close` (the next command sweeps it if this one is killed).
 */
export async function sshAgents(specs: Record<string, SshSpec>, storeRoot: string): Promise<{ ssh: Record<string, string>; close(): Promise<void> }> {
  const ssh: Record<string, string> = {};
  const agents: SshAgent[] = [];
  let dir: string | undefined;
  const close = async () => {
    for (const agent of agents.splice(0)) await agent.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  };
  try {
    for (const [id, spec] of Object.entries(specs)) {
      if ('socket' in spec) {
        ssh[id] = spec.socket;
        continue;
      }
      dir ??= await makeScratchDir(storeTmp(storeRoot), 'ssh');
      const own = join(dir, String(agents.length));
      await mkdir(own, { mode: 0o700 });
      const agent = await startSshAgent({ keys: spec.keys, dir: own });
      agents.push(agent);
      ssh[id] = agent.socket;
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { ssh, close };
}

/** An export of the final stage's files. */
export type FilesOutput = { type: 'local'; dest: string } | { type: 'tar'; dest: string };

/**
 * Splits `-o` specs into the file exporters handled here (`type=local`,
 * `type=tar`, and buildx's shorthands `-o DIR`, `-o -`) and the image
 * exporters the build writes.
 */
export function splitOutputs(specs: string[]): { files: FilesOutput[]; images: string[] } {
  const files: FilesOutput[] = [];
  const images: string[] = [];
  for (const spec of specs) {
    if (spec === '-') files.push({ type: 'tar', dest: '-' });
    else if (!spec.includes('=')) files.push({ type: 'local', dest: spec });
    else {
      const f = fields(spec, 'output');
      const type = f.get('type');
      if (type !== 'local' && type !== 'tar') {
        images.push(spec);
        continue;
      }
      const dest = f.get('dest');
      if (!dest) throw new UsageError(`-o type=${type} needs dest=…`);
      for (const key of f.keys()) if (key !== 'type' && key !== 'dest') throw new UsageError(`-o type=${type}: unknown key ${JSON.stringify(key)}`);
      files.push({ type, dest });
    }
  }
  if (files.filter((f) => f.dest === '-').length > 1) throw new UsageError('only one output can go to standard output');
  return { files, images };
}

/**
 * Writes the image's file system (its layers applied in order, whiteouts
 * resolved) as a directory or a tar; `-` is standard output.
 */
export async function writeFilesOutput(image: Image, output: FilesOutput, stdout: (bytes: Uint8Array) => void): Promise<void> {
  const layer = await squash(await image.layers());
  if (output.type === 'local') {
    await extractLayer(layer, output.dest, { devices: 'skip' });
    return;
  }
  if (output.dest === '-') {
    for await (const chunk of layer.uncompressed()) stdout(chunk);
    return;
  }
  // Written beside the destination and renamed: a failed export leaves no partial file.
  const partial = `${output.dest}.partial-${process.pid}`;
  try {
    const out = createWriteStream(partial);
    for await (const chunk of layer.uncompressed()) if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    const { rename } = await import('node:fs/promises');
    await rename(partial, output.dest);
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
}
