/**
 * An ssh-agent of layerkit's own, for `RUN --mount=type=ssh` given private
 * key files instead of an agent socket (`build --ssh default=~/.ssh/id_ed25519`,
 * as `docker buildx build --ssh` takes them). It speaks the agent protocol
 * (draft-miller-ssh-agent) on a Unix socket: the list of identities and
 * signatures with them; everything else (adding or removing keys, locking,
 * extensions) is answered with a failure, so a RUN step can use the keys but
 * never read, change or export them.
 *
 * Keys: OpenSSH's own format (`-----BEGIN OPENSSH PRIVATE KEY-----`, what
 * ssh-keygen writes) for ed25519, RSA and ECDSA (P-256/384/521), and PEM
 * (PKCS#1 RSA, SEC 1 EC, PKCS#8) as node:crypto reads them. Keys with a
 * passphrase are refused with the reason: a build cannot ask for it.
 * @module
 */
import { createPrivateKey, createHash, sign, type KeyObject } from 'node:crypto';
import { chmod, lstat, readFile, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { LayerkitError } from '../errors.js';

/**
 * The codes of a {@link SshAgentError}.
 *
 * @example
 * ```ts
 * const userFixable: SshAgentErrorCode[] = ['SSH_KEY_ENCRYPTED', 'SSH_KEY_INVALID'];
 * ```
 */
export type SshAgentErrorCode =
  /** A key file that cannot be read or is not a private key of a supported type. */
  | 'SSH_KEY_INVALID'
  /** A key protected by a passphrase. */
  | 'SSH_KEY_ENCRYPTED'
  /** The agent's socket cannot be made (path too long, directory missing). */
  | 'SSH_AGENT_FAILED'
  /** The socket's directory is not private: another user owns it or may enter or write it. */
  | 'SSH_AGENT_DIR_UNSAFE';

/**
 * Facts of a {@link SshAgentError}.
 *
 * @example
 * ```ts
 * if (err instanceof SshAgentError) console.error(err.data.path, err.data.reason);
 * ```
 */
export interface SshAgentErrorData {
  /** The key file or socket. */
  path?: string;
  /** Why, in a few words. */
  reason?: string;
}

/**
 * A key file or agent socket that cannot be used.
 *
 * @example
 * ```ts
 * try {
 *   await startSshAgent({ keys: ['id_rsa'], dir });
 * } catch (err) {
 *   if (err instanceof SshAgentError && err.code === 'SSH_KEY_ENCRYPTED') console.error('add the key to ssh-agent instead');
 * }
 * ```
 */
export class SshAgentError extends LayerkitError<SshAgentErrorCode, SshAgentErrorData> {}

/** One key the agent holds. */
interface AgentKey {
  /** The public key blob (the wire format of `ssh-add -L`'s second field). */
  blob: Buffer;
  type: string;
  comment: string;
  key: KeyObject;
  /** ECDSA: the hash of its curve. */
  hash?: string;
}

/**
 * An identity of a running {@link SshAgent}.
 *
 * @example
 * ```ts
 * for (const id of agent.identities) console.log(id.type, id.fingerprint, id.comment);
 * ```
 */
export interface SshIdentity {
  /** `ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`… */
  type: string;
  /** The key's comment (its file name when it has none). */
  comment: string;
  /** `SHA256:…`, as `ssh-keygen -l` prints it. */
  fingerprint: string;
  /** The public key line, as `ssh-add -L` prints it. */
  publicKey: string;
}

/**
 * A running agent: its socket and identities; `close` stops it and removes
 * the socket.
 *
 * @example
 * ```ts
 * const agent = await startSshAgent({ keys: ['/home/me/.ssh/id_ed25519'], dir: scratch });
 * try {
 *   await build({ context: '.', ssh: { default: agent.socket } });
 * } finally {
 *   await agent.close();
 * }
 * ```
 */
export interface SshAgent {
  socket: string;
  identities: SshIdentity[];
  close(): Promise<void>;
}

/**
 * Options of {@link startSshAgent}.
 *
 * @example
 * ```ts
 * const options: SshAgentOptions = { keys: ['/home/me/.ssh/id_ed25519'], dir: '/tmp/agent' };
 * ```
 */
export interface SshAgentOptions {
  /** Private key files. */
  keys: readonly string[];
  /**
   * An existing private directory of the caller's: owned by this user and
   * closed to everyone else (mode 0700). The socket (`agent.sock`) has the
   * umask's permissions between its making and its chmod to 0600; only the
   * directory keeps others from connecting in that moment.
   */
  dir: string;
}

/** Refuses a socket directory that is not this user's alone (see {@link SshAgentOptions.dir}). */
async function checkPrivateDir(dir: string): Promise<void> {
  const info = await lstat(dir).catch((err: NodeJS.ErrnoException) => {
    throw new SshAgentError('SSH_AGENT_FAILED', `cannot start an ssh agent in ${dir}: ${err.code ?? err.message}`, { path: dir, reason: err.code ?? err.message }, { cause: err });
  });
  const unsafe = (reason: string) => new SshAgentError('SSH_AGENT_DIR_UNSAFE', `cannot start an ssh agent in ${dir}: ${reason}; use a directory only you can enter (mode 0700)`, { path: dir, reason });
  if (!info.isDirectory()) throw unsafe('not a directory');
  const uid = process.getuid?.();
  if (uid !== undefined && info.uid !== uid) throw unsafe(`owned by uid ${info.uid}`);
  if ((info.mode & 0o033) !== 0) throw unsafe(`mode ${(info.mode & 0o777).toString(8).padStart(4, '0')} lets others enter or write it`);
}

// --- the wire format (RFC 4251) ---------------------------------------------

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

function str(bytes: Uint8Array | string): Buffer {
  const b = typeof bytes === 'string' ? Buffer.from(bytes) : Buffer.from(bytes);
  return Buffer.concat([u32(b.length), b]);
}

/** An mpint from unsigned big-endian bytes: minimal, with a 0 byte when the high bit is set. */
function mpint(unsigned: Uint8Array): Buffer {
  let i = 0;
  while (i < unsigned.length && unsigned[i] === 0) i++;
  const body = Buffer.from(unsigned.subarray(i));
  return str(body.length > 0 && body[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), body]) : body);
}

class Reader {
  #at = 0;
  constructor(readonly buf: Buffer, readonly what: string) {}
  get done(): boolean {
    return this.#at >= this.buf.length;
  }
  u32(): number {
    if (this.#at + 4 > this.buf.length) throw new RangeError(`${this.what}: truncated`);
    const n = this.buf.readUInt32BE(this.#at);
    this.#at += 4;
    return n;
  }
  bytes(): Buffer {
    const n = this.u32();
    if (this.#at + n > this.buf.length) throw new RangeError(`${this.what}: truncated`);
    const b = this.buf.subarray(this.#at, this.#at + n);
    this.#at += n;
    return b;
  }
  text(): string {
    return this.bytes().toString('utf8');
  }
  /** An mpint as unsigned big-endian bytes (keys' numbers are positive). */
  unsigned(): Buffer {
    const b = this.bytes();
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    return b.subarray(i);
  }
}

const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
const fromB64url = (text: string) => Buffer.from(text, 'base64url');
const toBig = (bytes: Uint8Array) => (bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString('hex')}`));
function fromBig(n: bigint, length = 0): Buffer {
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  const b = Buffer.from(hex, 'hex');
  return length > b.length ? Buffer.concat([Buffer.alloc(length - b.length), b]) : b;
}

const CURVES: Record<string, { crv: string; size: number; hash: string }> = {
  nistp256: { crv: 'P-256', size: 32, hash: 'sha256' },
  nistp384: { crv: 'P-384', size: 48, hash: 'sha384' },
  nistp521: { crv: 'P-521', size: 66, hash: 'sha512' },
};
const CURVE_OF_CRV: Record<string, string> = { 'P-256': 'nistp256', 'P-384': 'nistp384', 'P-521': 'nistp521' };

// --- keys ---------------------------------------------------------------------

function invalid(path: string, reason: string): SshAgentError {
  return new SshAgentError('SSH_KEY_INVALID', `cannot use the ssh key ${path}: ${reason}`, { path, reason });
}

function encrypted(path: string): SshAgentError {
  return new SshAgentError('SSH_KEY_ENCRYPTED', `the ssh key ${path} is protected by a passphrase, which a build cannot ask for: load it into ssh-agent (ssh-add) and pass the agent (--ssh default)`, { path, reason: 'passphrase' });
}

/** The agent's view of a key node:crypto holds (its public blob from the JWK). */
function agentKey(key: KeyObject, comment: string, path: string): AgentKey {
  const jwk = key.export({ format: 'jwk' });
  if (key.asymmetricKeyType === 'ed25519') {
    return { type: 'ssh-ed25519', blob: Buffer.concat([str('ssh-ed25519'), str(fromB64url(jwk.x!))]), comment, key };
  }
  if (key.asymmetricKeyType === 'rsa') {
    return { type: 'ssh-rsa', blob: Buffer.concat([str('ssh-rsa'), mpint(fromB64url(jwk.e!)), mpint(fromB64url(jwk.n!))]), comment, key };
  }
  if (key.asymmetricKeyType === 'ec') {
    const curve = CURVE_OF_CRV[jwk.crv ?? ''];
    if (!curve) throw invalid(path, `the curve ${jwk.crv ?? '?'} has no ssh name`);
    const size = CURVES[curve]!.size;
    const point = Buffer.concat([Buffer.from([4]), fromBig(toBig(fromB64url(jwk.x!)), size), fromBig(toBig(fromB64url(jwk.y!)), size)]);
    const type = `ecdsa-sha2-${curve}`;
    return { type, blob: Buffer.concat([str(type), str(curve), str(point)]), comment, key, hash: CURVES[curve]!.hash };
  }
  throw invalid(path, `${key.asymmetricKeyType ?? 'unknown'} keys are not supported (ed25519, RSA and ECDSA are)`);
}

/** The keys of an OpenSSH-format private key file. */
function openSshKeys(text: string, path: string): AgentKey[] {
  const body = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(text)?.[1];
  if (body === undefined) throw invalid(path, 'no END OPENSSH PRIVATE KEY line');
  const raw = Buffer.from(body.replace(/\s+/g, ''), 'base64');
  const magic = 'openssh-key-v1\0';
  if (raw.subarray(0, magic.length).toString('latin1') !== magic) throw invalid(path, 'not an openssh-key-v1 key');
  const r = new Reader(raw.subarray(magic.length), path);
  const cipher = r.text();
  r.text(); // kdf name
  r.bytes(); // kdf options
  if (cipher !== 'none') throw encrypted(path);
  const count = r.u32();
  if (count < 1 || count > 64) throw invalid(path, `${count} keys in one file`);
  for (let i = 0; i < count; i++) r.bytes();
  const p = new Reader(r.bytes(), path);
  if (p.u32() !== p.u32()) throw invalid(path, 'the check numbers differ (corrupt or encrypted)');
  const keys: AgentKey[] = [];
  for (let i = 0; i < count; i++) {
    const type = p.text();
    let key: KeyObject;
    if (type === 'ssh-ed25519') {
      const pub = p.bytes();
      const priv = p.bytes();
      if (pub.length !== 32 || priv.length !== 64) throw invalid(path, 'a malformed ed25519 key');
      key = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(pub), d: b64url(priv.subarray(0, 32)) }, format: 'jwk' });
    } else if (type === 'ssh-rsa') {
      const [n, e, d, iqmp, pp, q] = [p.unsigned(), p.unsigned(), p.unsigned(), p.unsigned(), p.unsigned(), p.unsigned()];
      const dBig = toBig(d);
      const dp = dBig % (toBig(pp) - 1n);
      const dq = dBig % (toBig(q) - 1n);
      key = createPrivateKey({
        key: { kty: 'RSA', n: b64url(n), e: b64url(e), d: b64url(d), p: b64url(pp), q: b64url(q), dp: b64url(fromBig(dp)), dq: b64url(fromBig(dq)), qi: b64url(iqmp) },
        format: 'jwk',
      });
    } else if (type.startsWith('ecdsa-sha2-')) {
      const curve = CURVES[p.text()];
      const point = p.bytes();
      const d = p.unsigned();
      if (!curve || point.length !== 1 + 2 * curve.size || point[0] !== 4) throw invalid(path, `a malformed or unsupported ${type} key`);
      key = createPrivateKey({
        key: { kty: 'EC', crv: curve.crv, x: b64url(point.subarray(1, 1 + curve.size)), y: b64url(point.subarray(1 + curve.size)), d: b64url(fromBig(toBig(d), curve.size)) },
        format: 'jwk',
      });
    } else {
      throw invalid(path, `${type} keys are not supported (ed25519, RSA and ECDSA are)`);
    }
    const comment = p.text();
    keys.push(agentKey(key, comment || path, path));
  }
  return keys;
}

/**
 * Reads private key files as the agent holds them.
 *
 * @throws {@link SshAgentError} `SSH_KEY_INVALID`, `SSH_KEY_ENCRYPTED`.
 */
async function loadKeys(paths: readonly string[]): Promise<AgentKey[]> {
  const out: AgentKey[] = [];
  for (const path of paths) {
    const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw invalid(path, err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'a directory' : (err.code ?? err.message));
    });
    try {
      if (text.includes('-----BEGIN OPENSSH PRIVATE KEY-----')) {
        out.push(...openSshKeys(text, path));
        continue;
      }
      if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(text)) throw encrypted(path);
      if (!/-----BEGIN (RSA |EC |)PRIVATE KEY-----/.test(text)) throw invalid(path, 'not a private key (OpenSSH or PEM)');
      out.push(agentKey(createPrivateKey({ key: text, format: 'pem' }), path, path));
    } catch (err) {
      if (err instanceof SshAgentError) throw err;
      if ((err as NodeJS.ErrnoException).code === 'ERR_MISSING_PASSPHRASE') throw encrypted(path);
      throw invalid(path, (err as Error).message);
    }
  }
  return out;
}

// --- the protocol ---------------------------------------------------------------

const FAILURE = 5;
const REQUEST_IDENTITIES = 11;
const IDENTITIES_ANSWER = 12;
const SIGN_REQUEST = 13;
const SIGN_RESPONSE = 14;
const RSA_SHA2_256 = 2;
const RSA_SHA2_512 = 4;
/** OpenSSH's agent refuses messages over 256 KiB. */
const MAX_MESSAGE = 256 * 1024;

function signature(k: AgentKey, data: Buffer, flags: number): Buffer {
  if (k.type === 'ssh-ed25519') return Buffer.concat([str(k.type), str(sign(null, data, k.key))]);
  if (k.type === 'ssh-rsa') {
    const [name, hash] = flags & RSA_SHA2_512 ? ['rsa-sha2-512', 'sha512'] : flags & RSA_SHA2_256 ? ['rsa-sha2-256', 'sha256'] : ['ssh-rsa', 'sha1'];
    return Buffer.concat([str(name!), str(sign(hash!, data, k.key))]);
  }
  const raw = sign(k.hash!, data, { key: k.key, dsaEncoding: 'ieee-p1363' });
  const half = raw.length / 2;
  return Buffer.concat([str(k.type), str(Buffer.concat([mpint(raw.subarray(0, half)), mpint(raw.subarray(half))]))]);
}

/** The answer to one message (type byte and body), or FAILURE. */
function answer(keys: readonly AgentKey[], message: Buffer): Buffer {
  try {
    const type = message[0];
    if (type === REQUEST_IDENTITIES) {
      return Buffer.concat([Buffer.from([IDENTITIES_ANSWER]), u32(keys.length), ...keys.flatMap((k) => [str(k.blob), str(k.comment)])]);
    }
    if (type === SIGN_REQUEST) {
      const r = new Reader(message.subarray(1), 'sign request');
      const blob = r.bytes();
      const data = r.bytes();
      const flags = r.done ? 0 : r.u32();
      const key = keys.find((k) => k.blob.equals(blob));
      if (key) return Buffer.concat([Buffer.from([SIGN_RESPONSE]), str(signature(key, data, flags))]);
    }
  } catch {
    // A malformed request is refused like any other.
  }
  return Buffer.from([FAILURE]);
}

function serve(keys: readonly AgentKey[], socket: Socket): void {
  let pending = Buffer.alloc(0);
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 4) {
      const length = pending.readUInt32BE(0);
      if (length === 0 || length > MAX_MESSAGE) {
        socket.destroy();
        return;
      }
      if (pending.length < 4 + length) return;
      const reply = answer(keys, pending.subarray(4, 4 + length));
      pending = pending.subarray(4 + length);
      socket.write(Buffer.concat([u32(reply.length), reply]));
    }
  });
}

function identity(k: AgentKey): SshIdentity {
  return {
    type: k.type,
    comment: k.comment,
    fingerprint: `SHA256:${createHash('sha256').update(k.blob).digest('base64').replace(/=+$/, '')}`,
    publicKey: `${k.type} ${k.blob.toString('base64')} ${k.comment}`,
  };
}

/**
 * Starts an ssh-agent serving the private keys of `keys` on a Unix socket
 * `agent.sock` in `dir` (mode 0600), in this process, until `close`. The
 * keys are read and checked first: nothing listens when one cannot be used.
 * `dir` must be private (0700, this user's): the socket is reachable
 * through it for a moment before its mode is set.
 * Pass `agent.socket` where an agent socket is taken (`build({ ssh })`).
 *
 * @throws {@link SshAgentError} `SSH_KEY_INVALID`, `SSH_KEY_ENCRYPTED`, `SSH_AGENT_DIR_UNSAFE`, `SSH_AGENT_FAILED`.
 * @example
 * ```ts
 * import { rm } from 'node:fs/promises';
 * import { build, makeScratchDir, startSshAgent, storeTmp } from 'layerkit';
 *
 * const dir = await makeScratchDir(storeTmp('.layerkit'), 'ssh-agent'); // mode 0700
 * try {
 *   const agent = await startSshAgent({ keys: [`${process.env.HOME}/.ssh/id_ed25519`], dir });
 *   try {
 *     // RUN --mount=type=ssh git clone git@github.com:me/private.git
 *     await build({ context: '.', store: '.layerkit', ssh: { default: agent.socket } });
 *   } finally {
 *     await agent.close();
 *   }
 * } finally {
 *   await rm(dir, { recursive: true, force: true });
 * }
 * ```
 */
export async function startSshAgent(options: SshAgentOptions): Promise<SshAgent> {
  if (options.keys.length === 0) throw new SshAgentError('SSH_KEY_INVALID', 'an ssh agent needs at least one key file', { reason: 'no keys' });
  const keys = await loadKeys(options.keys);
  const socket = join(options.dir, 'agent.sock');
  // sockaddr_un holds 108 bytes with the terminating NUL.
  if (Buffer.byteLength(socket) > 107) {
    throw new SshAgentError('SSH_AGENT_FAILED', `cannot start an ssh agent: its socket path is longer than a Unix socket allows (${Buffer.byteLength(socket)} bytes): ${socket}`, { path: socket, reason: 'path too long' });
  }
  await checkPrivateDir(options.dir);
  const connections = new Set<Socket>();
  const server: Server = createServer((conn) => {
    connections.add(conn);
    conn.on('close', () => connections.delete(conn));
    serve(keys, conn);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new SshAgentError('SSH_AGENT_FAILED', `cannot start an ssh agent at ${socket}: ${err.code ?? err.message}`, { path: socket, reason: err.code ?? err.message }, { cause: err })),
    );
    server.listen(socket, () => resolve());
  });
  try {
    await chmod(socket, 0o600);
  } catch (err) {
    // Nothing may stay listening (or on disk) with the umask's permissions.
    for (const conn of connections) conn.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(socket, { force: true });
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new SshAgentError('SSH_AGENT_FAILED', `cannot start an ssh agent at ${socket}: cannot make the socket private: ${reason}`, { path: socket, reason }, { cause: err });
  }
  let closed: Promise<void> | undefined;
  return {
    socket,
    identities: keys.map(identity),
    close() {
      closed ??= (async () => {
        for (const conn of connections) conn.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await rm(socket, { force: true });
      })();
      return closed;
    },
  };
}
