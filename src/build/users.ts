/**
 * Users and groups of a stage: `--chown`, `USER` and mount owners are
 * resolved against the stage's own /etc/passwd and /etc/group, read as data
 * from its file system (never through the host's name service).
 * @module
 */
import type { UnionFS } from '../unionfs/union.js';

/** One /etc/passwd line. */
export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

/** One /etc/group line. */
export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const ID = /^[0-9]+$/;

/** Parses /etc/passwd text; malformed lines are skipped, as libc does. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.replace(/\r$/, '').split(':');
    if (fields.length < 4 || fields[0] === '' || line.startsWith('#')) continue;
    const [name, , uid, gid] = fields as [string, string, string, string];
    if (!ID.test(uid) || !ID.test(gid)) continue;
    out.push({ name, uid: Number(uid), gid: Number(gid) });
  }
  return out;
}

/** Parses /etc/group text; malformed lines are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.replace(/\r$/, '').split(':');
    if (fields.length < 3 || fields[0] === '' || line.startsWith('#')) continue;
    const [name, , gid, members = ''] = fields as [string, string, string, string?];
    if (!ID.test(gid)) continue;
    out.push({ name, gid: Number(gid), members: members.split(',').map((m) => m.trim()).filter(Boolean) });
  }
  return out;
}

/** Why a name could not be resolved. */
export class UnknownNameError extends Error {
  constructor(
    readonly kind: 'user' | 'group',
    readonly value: string,
    readonly file: string,
  ) {
    super(`unable to find ${kind} ${value}: no matching entries in ${kind === 'user' ? 'passwd' : 'group'} file`);
  }
}

/** The users and groups of a file system, read on first use. */
export class UserDb {
  #passwd: Promise<PasswdEntry[] | undefined> | undefined;
  #group: Promise<GroupEntry[] | undefined> | undefined;

  constructor(private readonly fs: () => Promise<UnionFS>) {}

  passwd(): Promise<PasswdEntry[] | undefined> {
    this.#passwd ??= this.#read('/etc/passwd').then((t) => (t === undefined ? undefined : parsePasswd(t)));
    return this.#passwd;
  }

  group(): Promise<GroupEntry[] | undefined> {
    this.#group ??= this.#read('/etc/group').then((t) => (t === undefined ? undefined : parseGroup(t)));
    return this.#group;
  }

  async #read(path: string): Promise<string | undefined> {
    const fs = await this.fs();
    try {
      return await fs.readFile(path, 'utf8');
    } catch {
      return undefined;
    }
  }

  /**
   * `--chown` (BuildKit's copy owner): `uid[:gid]` or `name[:group]`; a user
   * given by number without a group gets gid = uid, a user given by name its
   * primary group.
   *
   * @throws {@link UnknownNameError}
   */
  async chownOwner(spec: string): Promise<{ uid: number; gid: number }> {
    const [user, group] = splitOwner(spec);
    let uid = 0;
    let gid = 0;
    if (user !== '') {
      if (ID.test(user)) {
        uid = Number(user);
        gid = uid;
      } else {
        const found = (await this.passwd())?.find((p) => p.name === user);
        if (!found) throw new UnknownNameError('user', user, '/etc/passwd');
        uid = found.uid;
        gid = found.gid;
      }
    }
    if (group !== undefined && group !== '') gid = await this.groupId(group);
    return { uid, gid };
  }

  /**
   * `USER` for RUN (runc/containerd's rule): `user[:group]`; a numeric user
   * not in /etc/passwd runs with gid 0; supplementary groups are those of
   * /etc/group that list the user's name (none when a group is given).
   *
   * @throws {@link UnknownNameError}
   */
  async runUser(spec: string): Promise<{ uid: number; gid: number; additionalGids: number[] }> {
    if (spec === '') spec = 'root';
    const [user, group] = splitOwner(spec);
    const passwd = (await this.passwd()) ?? [];
    let name: string | undefined;
    let uid: number;
    let gid: number;
    if (ID.test(user)) {
      uid = Number(user);
      const found = passwd.find((p) => p.uid === uid);
      gid = found?.gid ?? 0;
      name = found?.name;
    } else {
      const found = passwd.find((p) => p.name === user);
      if (!found) {
        if (user === 'root') return { uid: 0, gid: group === undefined ? 0 : await this.groupId(group), additionalGids: [] };
        throw new UnknownNameError('user', user, '/etc/passwd');
      }
      uid = found.uid;
      gid = found.gid;
      name = found.name;
    }
    if (group !== undefined && group !== '') return { uid, gid: await this.groupId(group), additionalGids: [] };
    const groups = (await this.group()) ?? [];
    const additionalGids = name === undefined ? [] : groups.filter((g) => g.members.includes(name) && g.gid !== gid).map((g) => g.gid);
    return { uid, gid, additionalGids: [...new Set(additionalGids)] };
  }

  async groupId(group: string): Promise<number> {
    if (ID.test(group)) return Number(group);
    const found = (await this.group())?.find((g) => g.name === group);
    if (!found) throw new UnknownNameError('group', group, '/etc/group');
    return found.gid;
  }
}

function splitOwner(spec: string): [string, string | undefined] {
  const colon = spec.indexOf(':');
  return colon < 0 ? [spec, undefined] : [spec.slice(0, colon), spec.slice(colon + 1)];
}
