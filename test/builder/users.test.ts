/**
 * Users of a stage: how USER resolves for RUN (BuildKit's GetUser and runc's
 * GetExecUser, with containerd's primary gid among the groups), how
 * `--chown` names resolve, and that users added by a RUN are seen by the
 * instructions after it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RunStep } from '../../src/sandbox/executor.js';
import { BuildError } from '../../src/builder/errors.js';
import { UnknownNameError, UserDb } from '../../src/builder/users.js';
import { LowerStack } from '../../src/unionfs/lower-stack.js';
import { UnionFS } from '../../src/unionfs/union.js';
import { buildText, rootfs } from './helpers.js';

const PASSWD = ['root:x:0:0:root:/root:/bin/sh', 'daemon:x:1:1::/:/bin/false', 'app:x:1000:1000::/home/app:/bin/sh', 'ops:x:2000:50::/home/ops:/bin/sh'].join('\n');
const GROUP = ['root:x:0:', 'wheel:x:10:root,app', 'staff:x:50:ops', 'app:x:1000:', 'video:x:27:app,ops', 'self:x:2000:ops'].join('\n');

/** A user database over a file system holding `files`. */
async function usersOf(files: Record<string, string>): Promise<UserDb> {
  const fs = new UnionFS(LowerStack.empty());
  await fs.mkdir('/etc', { recursive: true });
  for (const [path, text] of Object.entries(files)) await fs.writeFile(path, text);
  return new UserDb(async () => fs);
}

describe('USER for RUN', () => {
  it('resolves as BuildKit does, with the primary gid among the supplementary groups', async () => {
    const users = await usersOf({ '/etc/passwd': PASSWD, '/etc/group': GROUP });
    // No USER: root, by uid 0, with the groups that list root.
    expect(await users.runUser('')).toEqual({ uid: 0, gid: 0, additionalGids: [0, 10] });
    // A name: its passwd entry; groups listing it, in file order, the primary first when not listed.
    expect(await users.runUser('app')).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000, 10, 27] });
    // ops is listed in its own primary group (staff, 50): the order of /etc/group stands.
    expect(await users.runUser('ops')).toEqual({ uid: 2000, gid: 50, additionalGids: [50, 27, 2000] });
    // A numeric uid with an entry takes the entry's gid and groups.
    expect(await users.runUser('1000')).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000, 10, 27] });
    // A numeric uid without an entry is allowed, with gid 0.
    expect(await users.runUser('1234')).toEqual({ uid: 1234, gid: 0, additionalGids: [0] });
    // An explicit group: that gid, no supplementary groups besides it.
    expect(await users.runUser('app:staff')).toEqual({ uid: 1000, gid: 50, additionalGids: [50] });
    expect(await users.runUser('app:4242')).toEqual({ uid: 1000, gid: 4242, additionalGids: [4242] });
    // Both numeric (or root): taken as they are, no lookup.
    expect(await users.runUser('42:10')).toEqual({ uid: 42, gid: 10, additionalGids: [10] });
    expect(await users.runUser('root:root')).toEqual({ uid: 0, gid: 0, additionalGids: [0] });
  });

  it('a name that is not in /etc/passwd is an error (Docker: unable to find user), root included', async () => {
    const users = await usersOf({ '/etc/passwd': PASSWD, '/etc/group': GROUP });
    const missing = await users.runUser('nobody').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(UnknownNameError);
    expect((missing as Error).message).toBe('unable to find user nobody: no matching entries in passwd file');
    await expect(users.runUser('app:nogroup')).rejects.toThrow('unable to find group nogroup: no matching entries in group file');
    const bare = await usersOf({});
    await expect(bare.runUser('root')).rejects.toThrow('unable to find user root');
    // Without any passwd file: the default user, numeric users and uid:gid still work.
    expect(await bare.runUser('')).toEqual({ uid: 0, gid: 0, additionalGids: [0] });
    expect(await bare.runUser('1234')).toEqual({ uid: 1234, gid: 0, additionalGids: [0] });
    expect(await bare.runUser('7:8')).toEqual({ uid: 7, gid: 8, additionalGids: [8] });
  });

  it('property: the primary gid is always a supplementary group, listed once; an explicit group is the only one', async () => {
    const name = fc.constantFrom('root', 'app', 'ops', 'zed');
    const db = fc.record({
      users: fc.array(fc.tuple(name, fc.nat(3000), fc.nat(3000)), { maxLength: 5 }),
      groups: fc.array(fc.tuple(fc.constantFrom('g1', 'g2', 'g3', 'app'), fc.nat(3000), fc.subarray(['root', 'app', 'ops', 'zed'])), { maxLength: 5 }),
    });
    const spec = fc.oneof(name, fc.nat(3000).map(String), fc.tuple(name, fc.constantFrom('g1', 'app', '77')).map(([u, g]) => `${u}:${g}`), fc.constant(''));
    await fc.assert(
      fc.asyncProperty(db, spec, async ({ users, groups }, user) => {
        const passwd = users.map(([n, u, g]) => `${n}:x:${u}:${g}::/:/bin/sh`).join('\n');
        const group = groups.map(([n, g, members]) => `${n}:x:${g}:${members.join(',')}`).join('\n');
        const resolved = await (await usersOf({ '/etc/passwd': passwd, '/etc/group': group })).runUser(user).catch((e: unknown) => e);
        if (resolved instanceof UnknownNameError) return;
        const { uid, gid, additionalGids } = resolved as RunStep['user'];
        expect(additionalGids).toContain(gid);
        expect(new Set(additionalGids).size).toBe(additionalGids.length);
        if (user.includes(':')) expect(additionalGids).toEqual([gid]);
        const entry = /^[0-9]+$/.test(user) ? users.find(([, u]) => u === Number(user)) : users.find(([n]) => n === (user.split(':')[0] || 'root'));
        if (user !== '' && !user.includes(':') && entry) expect([uid, gid]).toEqual([entry[1], entry[2]]);
      }),
    );
  });
});

describe('users read again when the stage changes', () => {
  it('UserDb reads /etc/passwd and /etc/group again once its version changes, not before', async () => {
    const fs = new UnionFS(LowerStack.empty());
    await fs.mkdir('/etc');
    await fs.writeFile('/etc/passwd', 'root:x:0:0::/:/bin/sh\n');
    let version = 1;
    const users = new UserDb(async () => fs, () => version);
    await expect(users.runUser('app')).rejects.toBeInstanceOf(UnknownNameError);
    await fs.writeFile('/etc/passwd', 'root:x:0:0::/:/bin/sh\napp:x:1234:1234::/home/app:/bin/sh\n');
    // Same version: the file system is said to be the same, the answer too.
    await expect(users.runUser('app')).rejects.toBeInstanceOf(UnknownNameError);
    version = 2;
    expect(await users.runUser('app')).toEqual({ uid: 1234, gid: 1234, additionalGids: [1234] });
    expect(await users.chownOwner('app')).toEqual({ uid: 1234, gid: 1234 });
  });

  it('a user a RUN adds is seen by USER, COPY --chown and the RUNs after it in the same stage', async () => {
    const steps: RunStep[] = [];
    const result = await buildText(
      [
        'FROM scratch',
        'COPY etc /etc',
        'RUN --network=none true',
        'RUN adduser app',
        'USER app',
        'RUN id',
        'COPY --chown=app:builders a.txt /a.txt',
        'USER root',
        'RUN true',
      ].join('\n'),
      { 'etc/passwd': 'root:x:0:0::/root:/bin/sh\n', 'etc/group': 'root:x:0:\n', 'a.txt': 'A' },
      {
        // A stand-in for `adduser`: the handler writes what the command would.
        run: async (step, fs) => {
          steps.push(step);
          if (step.argv.at(-1) === 'adduser app') {
            await fs.writeFile('/etc/passwd', `${await fs.readFile('/etc/passwd', 'utf8')}app:x:1234:1234::/home/app:/bin/sh\n`);
            await fs.writeFile('/etc/group', `${await fs.readFile('/etc/group', 'utf8')}app:x:1234:\nbuilders:x:3000:app\n`);
          }
        },
      },
    );
    expect(steps.map((s) => s.user)).toEqual([
      { uid: 0, gid: 0, additionalGids: [0] },
      { uid: 0, gid: 0, additionalGids: [0] },
      { uid: 1234, gid: 1234, additionalGids: [1234, 3000] },
      { uid: 0, gid: 0, additionalGids: [0] },
    ]);
    expect((await rootfs(result.image)).get('/a.txt')).toMatchObject({ uid: 1234, gid: 3000 });
  });

  it('a USER name no layer of the stage defines fails the RUN with UNKNOWN_USER and its position', async () => {
    const err = await buildText('FROM scratch\nCOPY etc /etc\nUSER ghost\nRUN true\n', { 'etc/passwd': 'root:x:0:0::/:/bin/sh\n' }, { run: () => undefined }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BuildError);
    expect((err as BuildError).code).toBe('UNKNOWN_USER');
    expect((err as BuildError).data).toMatchObject({ line: 4, reference: 'ghost' });
    expect((err as Error).message).toBe('unable to find user ghost: no matching entries in passwd file');
  });
});
