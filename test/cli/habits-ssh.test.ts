/**
 * `build --ssh ID=KEY[,KEY…]`: private key files served by layerkit's own
 * ssh-agent, checked against OpenSSH itself (`ssh-add -L`, `ssh-keygen -Y
 * sign` through the agent and `-Y verify`), and a build whose
 * `RUN --mount=type=ssh ssh-add -L` lists the keys.
 */
import { execFile } from 'node:child_process';
import { createPublicKey, verify } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { chmod, copyFile, mkdir, readdir, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sandboxExecutor } from '../../src/sandbox/index.js';
import { SshAgentError, startSshAgent, type SshAgent } from '../../src/sandbox/ssh-agent.js';
import { parseSsh } from '../../src/cli/build-inputs.js';
import { ImageStore } from '../../src/image/store/store.js';
import { buildText, sandboxReady, tempDir } from '../builder/helpers.js';
import { tool } from '../layers/interop-helpers.js';
import { layerkit } from './habits-helpers.js';

// chmod as it is, unless a test makes it fail (a file system that refuses it).
const chmodFails = vi.hoisted(() => ({ on: false }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof fsp>();
  return {
    ...real,
    chmod: (...args: Parameters<typeof real.chmod>) =>
      chmodFails.on ? Promise.reject(Object.assign(new Error('EPERM: operation not permitted, chmod'), { code: 'EPERM' })) : real.chmod(...args),
  };
});

const haveOpenSsh = tool('ssh-keygen', '-?') && tool('ssh-add', '-?');
let work: string;
let keys: string;

/** Runs a program without blocking this process (the agent under test serves from it). */
function sh(cmd: string, args: string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { env: { ...process.env, ...options.env }, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout: String(stdout), stderr: String(stderr) }),
    );
    child.stdin!.end(options.input ?? '');
  });
}

const KEYS = [
  { name: 'ed25519', args: ['-t', 'ed25519', '-C', 'ed-comment'] },
  { name: 'rsa', args: ['-t', 'rsa', '-b', '2048', '-C', 'rsa-comment'] },
  { name: 'ecdsa', args: ['-t', 'ecdsa', '-b', '384', '-C', 'ec-comment'] },
  { name: 'rsa-pem', args: ['-t', 'rsa', '-b', '2048', '-m', 'PEM'] },
  { name: 'ecdsa-pem', args: ['-t', 'ecdsa', '-b', '256', '-m', 'PEM'] },
];

beforeAll(async () => {
  work = await tempDir('layerkit-habits-ssh-');
  keys = join(work, 'keys');
  await mkdir(keys);
  if (!haveOpenSsh) return;
  for (const k of KEYS) {
    const made = await sh('ssh-keygen', ['-q', '-N', '', ...k.args, '-f', join(keys, k.name)]);
    expect(made.status, made.stderr).toBe(0);
  }
  await sh('ssh-keygen', ['-q', '-N', 'a passphrase', '-t', 'ed25519', '-f', join(keys, 'locked')]);
  await sh('ssh-keygen', ['-q', '-N', 'a passphrase', '-t', 'rsa', '-b', '2048', '-m', 'PEM', '-f', join(keys, 'locked-pem')]);
}, 120_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function publicLine(name: string): Promise<string> {
  return (await readFile(join(keys, `${name}.pub`), 'utf8')).trim().split(' ').slice(0, 2).join(' ');
}

describe('startSshAgent', () => {
  it('lists OpenSSH and PEM keys to ssh-add -L as ssh-keygen wrote them, with their comments', async (t) => {
    if (!haveOpenSsh) return t.skip();
    const agent = await startSshAgent({ keys: KEYS.map((k) => join(keys, k.name)), dir: work });
    try {
      expect((await stat(agent.socket)).mode & 0o777).toBe(0o600);
      const listed = await sh('ssh-add', ['-L'], { env: { SSH_AUTH_SOCK: agent.socket } });
      expect(listed.status, listed.stderr).toBe(0);
      const lines = listed.stdout.trim().split('\n');
      const expected = await Promise.all(KEYS.map((k) => publicLine(k.name)));
      expect(lines.map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual(expected);
      expect(lines.map((l) => l.split(' ').slice(2).join(' '))).toEqual(['ed-comment', 'rsa-comment', 'ec-comment', join(keys, 'rsa-pem'), join(keys, 'ecdsa-pem')]);
      // Fingerprints as ssh-add -l prints them.
      const fingerprints = (await sh('ssh-add', ['-l'], { env: { SSH_AUTH_SOCK: agent.socket } })).stdout.trim().split('\n').map((l) => l.split(' ')[1]);
      expect(agent.identities.map((i) => i.fingerprint)).toEqual(fingerprints);
      expect(agent.identities.map((i) => i.type)).toEqual(['ssh-ed25519', 'ssh-rsa', 'ecdsa-sha2-nistp384', 'ssh-rsa', 'ecdsa-sha2-nistp256']);
    } finally {
      await agent.close();
    }
    await expect(stat(agent.socket)).rejects.toThrow();
  }, 60_000);

  it('signs through the agent for ssh-keygen -Y sign, and ssh-keygen -Y verify accepts each signature (RSA with rsa-sha2-512)', async (t) => {
    if (!haveOpenSsh) return t.skip();
    const agent = await startSshAgent({ keys: KEYS.map((k) => join(keys, k.name)), dir: work });
    try {
      const message = join(work, 'message.txt');
      await writeFile(message, 'signed by the agent\n');
      for (const k of KEYS) {
        const signed = await sh('ssh-keygen', ['-Y', 'sign', '-n', 'file', '-f', join(keys, `${k.name}.pub`), message], { env: { SSH_AUTH_SOCK: agent.socket } });
        expect(signed.status, `${k.name}: ${signed.stderr}`).toBe(0);
        const allowed = join(work, 'allowed');
        await writeFile(allowed, `signer ${await publicLine(k.name)}\n`);
        const verified = await sh('ssh-keygen', ['-Y', 'verify', '-f', allowed, '-I', 'signer', '-n', 'file', '-s', `${message}.sig`], { input: 'signed by the agent\n' });
        expect(verified.status, `${k.name}: ${verified.stderr}`).toBe(0);
        expect(verified.stdout).toContain('Good "file" signature for signer');
        // A changed message does not verify.
        const forged = await sh('ssh-keygen', ['-Y', 'verify', '-f', allowed, '-I', 'signer', '-n', 'file', '-s', `${message}.sig`], { input: 'signed by someone else\n' });
        expect(forged.status).not.toBe(0);
        await rm(`${message}.sig`);
      }
      // Without the private key file, ssh-keygen has only the agent to ask.
      expect((await readdir(work)).filter((n) => n.endsWith('.sig'))).toEqual([]);
    } finally {
      await agent.close();
    }
  }, 120_000);

  it('law: any data signed through the socket verifies with the public key; junk gets SSH_AGENT_FAILURE and the agent serves on', async (t) => {
    if (!haveOpenSsh) return t.skip();
    const agent = await startSshAgent({ keys: [join(keys, 'ed25519'), join(keys, 'rsa')], dir: work });
    try {
      const [edLine, rsaLine] = [await publicLine('ed25519'), await publicLine('rsa')];
      const blobs = [edLine, rsaLine].map((l) => Buffer.from(l.split(' ')[1]!, 'base64'));
      const pubs = ['ed25519', 'rsa'].map((n) => readFile(join(keys, `${n}.pub`), 'utf8'));
      const publicKeys = await Promise.all(pubs.map(async (p) => createPublicKey({ key: sshToPem(await p), format: 'pem' })));
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 1 }), fc.constantFrom(0, 2, 4), fc.uint8Array({ minLength: 1, maxLength: 40 }), async (data, which, flags, junk) => {
          const reply = await request(agent, Buffer.concat([Buffer.from([13]), str(blobs[which]!), str(data), u32(flags)]));
          expect(reply[0]).toBe(14);
          const sig = readStrings(readStrings(reply.subarray(1))[0]!);
          const [name, bytes] = [sig[0]!.toString(), sig[1]!];
          if (which === 0) {
            expect(name).toBe('ssh-ed25519');
            expect(verify(null, data, publicKeys[0]!, bytes)).toBe(true);
          } else {
            const hash = flags === 4 ? 'sha512' : flags === 2 ? 'sha256' : 'sha1';
            expect(name).toBe(flags === 4 ? 'rsa-sha2-512' : flags === 2 ? 'rsa-sha2-256' : 'ssh-rsa');
            expect(verify(hash, data, publicKeys[1]!, bytes)).toBe(true);
          }
          // Any other request (adding keys, removing them, a key it does not hold, garbage) fails.
          const junkType = [17, 18, 19, 22, 27, 200][junk[0]! % 6]!;
          expect([...(await request(agent, Buffer.concat([Buffer.from([junkType]), junk])))]).toEqual([5]);
          expect([...(await request(agent, Buffer.concat([Buffer.from([13]), str(junk), str(data)])))]).toEqual([5]);
        }),
        { numRuns: 40 },
      );
    } finally {
      await agent.close();
    }
  }, 120_000);

  it('refuses keys with a passphrase, public keys and missing files with a typed error, listening on nothing', async (t) => {
    if (!haveOpenSsh) return t.skip();
    const dir = join(work, 'refused');
    await mkdir(dir);
    for (const [file, code, text] of [
      ['locked', 'SSH_KEY_ENCRYPTED', 'protected by a passphrase'],
      ['locked-pem', 'SSH_KEY_ENCRYPTED', 'protected by a passphrase'],
      ['ed25519.pub', 'SSH_KEY_INVALID', 'not a private key'],
      ['nope', 'SSH_KEY_INVALID', 'no such file'],
    ] as const) {
      const err = await startSshAgent({ keys: [join(keys, 'ed25519'), join(keys, file)], dir }).catch((e: unknown) => e);
      expect(err, file).toBeInstanceOf(SshAgentError);
      expect((err as SshAgentError).code).toBe(code);
      expect((err as SshAgentError).message).toContain(text);
      expect((err as SshAgentError).data.path).toBe(join(keys, file));
    }
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses a socket directory others can enter or write, or that is not a directory, with a typed error', async (t) => {
    if (!haveOpenSsh) return t.skip();
    const dir = join(work, 'open');
    await mkdir(dir, { mode: 0o700 });
    for (const mode of [0o755, 0o711, 0o720, 0o702, 0o777]) {
      await chmod(dir, mode);
      const err = await startSshAgent({ keys: [join(keys, 'ed25519')], dir }).catch((e: unknown) => e);
      expect(err, mode.toString(8)).toBeInstanceOf(SshAgentError);
      expect((err as SshAgentError).code).toBe('SSH_AGENT_DIR_UNSAFE');
      expect((err as SshAgentError).data.path).toBe(dir);
      expect(await readdir(dir)).toEqual([]);
    }
    const err = await startSshAgent({ keys: [join(keys, 'ed25519')], dir: join(keys, 'ed25519') }).catch((e: unknown) => e);
    expect((err as SshAgentError).code).toBe('SSH_AGENT_DIR_UNSAFE');
    // 0700 and 0740 (others may list, not enter) are private enough.
    for (const mode of [0o700, 0o740]) {
      await chmod(dir, mode);
      const agent = await startSshAgent({ keys: [join(keys, 'ed25519')], dir });
      await agent.close();
    }
  });

  it('when the socket cannot be made private, stops listening, removes it and throws SSH_AGENT_FAILED', async (t) => {
    if (!haveOpenSsh) return t.skip();
    const dir = join(work, 'no-chmod');
    await mkdir(dir, { mode: 0o700 });
    const servers = () => process.getActiveResourcesInfo().filter((r) => r === 'PipeServerWrap').length;
    const before = servers();
    chmodFails.on = true;
    const err = await startSshAgent({ keys: [join(keys, 'ed25519')], dir })
      .catch((e: unknown) => e)
      .finally(() => (chmodFails.on = false));
    expect(err).toBeInstanceOf(SshAgentError);
    expect((err as SshAgentError).code).toBe('SSH_AGENT_FAILED');
    expect((err as SshAgentError).message).toContain('EPERM');
    expect(await readdir(dir)).toEqual([]);
    expect(servers()).toBe(before);
  });
});

describe('parseSsh', () => {
  it('reads a leading ~/ after ID= as the home directory, as docker does (the shell expands it only at a word start)', async () => {
    const home = join(work, 'home');
    await mkdir(join(home, '.ssh'), { recursive: true });
    await writeFile(join(home, '.ssh', 'id_test'), 'a key file\n');
    await writeFile(join(home, '.ssh', 'id_other'), 'a key file\n');
    expect(await parseSsh(['default=~/.ssh/id_test', 'git=~/.ssh/id_test,~/.ssh/id_other'], { HOME: home })).toEqual({
      default: { keys: [join(home, '.ssh', 'id_test')] },
      git: { keys: [join(home, '.ssh', 'id_test'), join(home, '.ssh', 'id_other')] },
    });
    // Only a leading ~/: a ~ elsewhere is part of the name.
    await expect(parseSsh(['default=.ssh/~/id_test'], { HOME: home })).rejects.toThrow('does not exist');
  });
});

describe('build --ssh ID=KEY', () => {
  let store: string;
  let ready = false;
  const IMAGE = 'habits/ssh-add';

  beforeAll(async () => {
    store = join(work, 'store');
    if (!haveOpenSsh || !(await sandboxReady('build --ssh with key files'))) return;
    // busybox and OpenSSH's ssh-add with the libraries it links, copied from this machine.
    const root = join(work, 'rootfs');
    await mkdir(join(root, 'bin'), { recursive: true });
    await copyFile('/bin/busybox', join(root, 'bin', 'busybox'));
    const sshAdd = await realpath((await sh('sh', ['-c', 'command -v ssh-add'])).stdout.trim());
    const libs = (await sh('ldd', [sshAdd])).stdout.split('\n').flatMap((l) => /(\/\S+) \(0x/.exec(l)?.[1] ?? []);
    for (const file of [sshAdd, ...libs]) {
      await mkdir(join(root, dirname(file)), { recursive: true });
      await copyFile(file, join(root, file));
    }
    await buildText(`FROM scratch\nCOPY . /\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nRUN ln -s ${sshAdd} /bin/ssh-add\n`, {}, { executor: sandboxExecutor(), store: new ImageStore(store), context: root, tags: IMAGE });
    ready = true;
  }, 180_000);

  it('RUN --mount=type=ssh ssh-add -L lists the keys of default=KEY,KEY and of another id', async (t) => {
    if (!ready) return t.skip();
    const ctx = join(work, 'ctx');
    await mkdir(ctx, { recursive: true });
    await writeFile(
      join(ctx, 'Dockerfile'),
      `FROM ${IMAGE}\nRUN --mount=type=ssh ssh-add -L > /default.txt\nRUN --mount=type=ssh,id=deploy,target=/run/deploy.sock SSH_AUTH_SOCK=/run/deploy.sock ssh-add -L > /deploy.txt\n`,
    );
    const out = join(work, 'out');
    const built = await layerkit(['build', '--store', store, '--progress=quiet', '--no-cache', '--ssh', `default=${join(keys, 'ed25519')},${join(keys, 'rsa-pem')}`, '--ssh', `deploy=${join(keys, 'ecdsa')}`, '-o', out, ctx], {
      env: { SSH_AUTH_SOCK: '' },
    });
    expect(built.status, built.stderr).toBe(0);
    const listed = (await readFile(join(out, 'default.txt'), 'utf8')).trim().split('\n');
    expect(listed.map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual([await publicLine('ed25519'), await publicLine('rsa-pem')]);
    expect((await readFile(join(out, 'deploy.txt'), 'utf8')).startsWith(`${await publicLine('ecdsa')} ec-comment`)).toBe(true);
    // The agent and its socket are gone with the build.
    expect(await readdir(join(store, 'tmp')).then((names) => names.filter((n) => n.startsWith('ssh-')), () => [])).toEqual([]);
  }, 180_000);

  it('RUN --mount=type=ssh,uid=1000[,gid=1000] serves the agent to USER 1000 on a socket of that owner, mode 0600; 0:0 by default', async (t) => {
    if (!ready) return t.skip();
    const ctx = join(work, 'ctx-uid');
    await mkdir(ctx, { recursive: true });
    await writeFile(
      join(ctx, 'Dockerfile'),
      [
        `FROM ${IMAGE}`,
        `RUN --mount=type=ssh stat -c '%u %g %a' $SSH_AUTH_SOCK > /root-owner.txt && ssh-add -L > /root-keys.txt`,
        'RUN mkdir -m 777 /out',
        'USER 1000',
        `RUN --mount=type=ssh,uid=1000 stat -c '%u %g %a' $SSH_AUTH_SOCK > /out/user-owner.txt && ssh-add -L > /out/user-keys.txt`,
        `RUN --mount=type=ssh,uid=1000,gid=1000 stat -c '%u %g %a' $SSH_AUTH_SOCK > /out/user-group-owner.txt`,
        `RUN --mount=type=ssh,id=deploy,uid=1000,gid=1001,mode=0640,target=/tmp/deploy.sock stat -c '%u %g %a' /tmp/deploy.sock > /out/deploy-owner.txt`,
        '',
      ].join('\n'),
    );
    const out = join(work, 'out-uid');
    const built = await layerkit(['build', '--store', store, '--progress=quiet', '--no-cache', '--ssh', `default=${join(keys, 'ed25519')}`, '--ssh', `deploy=${join(keys, 'ecdsa')}`, '-o', out, ctx], {
      env: { SSH_AUTH_SOCK: '' },
    });
    expect(built.status, built.stderr).toBe(0);
    expect(await readFile(join(out, 'root-owner.txt'), 'utf8')).toBe('0 0 600\n');
    // gid defaults to 0 on its own, as BuildKit has it.
    expect(await readFile(join(out, 'out', 'user-owner.txt'), 'utf8')).toBe('1000 0 600\n');
    expect(await readFile(join(out, 'out', 'user-group-owner.txt'), 'utf8')).toBe('1000 1000 600\n');
    expect(await readFile(join(out, 'out', 'deploy-owner.txt'), 'utf8')).toBe('1000 1001 640\n');
    for (const file of ['root-keys.txt', 'out/user-keys.txt']) {
      const listed = (await readFile(join(out, file), 'utf8')).trim().split('\n');
      expect(listed.map((l) => l.split(' ').slice(0, 2).join(' ')), file).toEqual([await publicLine('ed25519')]);
    }
    expect(await readdir(join(store, 'tmp')).then((names) => names.filter((n) => n.startsWith('ssh-')), () => [])).toEqual([]);
  }, 180_000);

  it('a key with a passphrase or a missing file is one clear line; nothing is built', async (t) => {
    if (!haveOpenSsh) return t.skip();
    const ctx = join(work, 'ctx-refused');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\n');
    const locked = await layerkit(['build', '--store', store, '--ssh', `default=${join(keys, 'locked')}`, ctx]);
    expect(locked.status).toBe(1);
    expect(locked.stderr.trim().split('\n')).toEqual([expect.stringContaining('is protected by a passphrase')]);
    const missing = await layerkit(['build', '--store', store, '--ssh', `default=${join(keys, 'nope')}`, ctx]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('does not exist');
    const mixed = await layerkit(['build', '--store', store, '--ssh', `default=${join(keys, 'ed25519')},${work}`, ctx]);
    expect(mixed.status).toBe(2);
    expect(mixed.stderr).toContain('neither an agent socket nor a private key file');
    expect(await readdir(join(store, 'tmp')).then((names) => names.filter((n) => n.startsWith('ssh-')), () => [])).toEqual([]);
  }, 60_000);
});

// --- the agent protocol, spoken by hand -------------------------------------------

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
function str(b: Uint8Array): Buffer {
  return Buffer.concat([u32(b.length), Buffer.from(b)]);
}
function readStrings(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at + 4 <= b.length; ) {
    const n = b.readUInt32BE(at);
    out.push(b.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return out;
}

/** One request, one reply (its body). */
function request(agent: SshAgent, body: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const conn = connect(agent.socket);
    let got = Buffer.alloc(0);
    conn.on('error', reject);
    conn.on('data', (c: Buffer) => {
      got = Buffer.concat([got, c]);
      if (got.length >= 4 && got.length >= 4 + got.readUInt32BE(0)) {
        conn.end();
        resolve(got.subarray(4, 4 + got.readUInt32BE(0)));
      }
    });
    conn.write(Buffer.concat([u32(body.length), body]));
  });
}

/** An OpenSSH public key line (ed25519 or RSA) as PEM (SPKI), for node:crypto's verify. */
function sshToPem(line: string): string {
  const blob = Buffer.from(line.trim().split(' ')[1]!, 'base64');
  const [type, a, b] = readStrings(blob);
  if (type!.toString() === 'ssh-ed25519') {
    const der = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), a!]);
    return `-----BEGIN PUBLIC KEY-----\n${der.toString('base64')}\n-----END PUBLIC KEY-----\n`;
  }
  const jwk = { kty: 'RSA', e: a!.subarray(a![0] === 0 ? 1 : 0).toString('base64url'), n: b!.subarray(b![0] === 0 ? 1 : 0).toString('base64url') };
  return createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();
}
