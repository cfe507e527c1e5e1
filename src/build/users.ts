/**
 * Users and groups of a stage: `--chown`, `USER` and mount owners are
 * resolved against the stage's own /etc/passwd and /etc/group, read as data
 * from its file system (never through the host's name service).
 * @module
 */
import type { UnionFS } from '../unionfs/union.js';
import { BuildError } from './errors.js';

/** One /etc/passwd line. */
export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  /** The home directory (field 6; empty when the line has none). */
  home: string;
}

/** The largest uid or gid a container may use (runc refuses more: the kernel's ids are 32-bit, -1 means none). */
export const MAX_ID = 2147483647;

/** Why a numeric user or group id cannot be used. */
export class IdRangeError extends Error {
  constructor(
    readonly kind: 'uid' | 'gid',
    readonly value: string,
  ) {
    super(`${kind} ${value} is out of range: user and group ids must be within 0…${MAX_ID}`);
  }
}

/**
 * A numeric id of `USER`, `--chown` or `-u`, refused outside 0…2147483647
 * as runc refuses it (instead of wrapping around to another id, root
 * included).
 *
 * @throws {@link IdRangeError}
 * @example
 * ```ts
 * numericId('1000', 'uid'); // 1000
 * numericId('4294967296', 'uid'); // throws: uid 4294967296 is out of range
 * ```
 */
export function numericId(text: string, kind: 'uid' | 'gid'): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value > MAX_ID) throw new IdRangeError(kind, text);
  return value;
}

/**
 * The user's home directory as Docker and BuildKit give it to a process
 * whose environment has no `HOME`: the passwd entry's (runc's
 * `GetExecUser`), `/` when the uid has no entry or the entry no home.
 *
 * @example
 * ```ts
 * homeOf(parsePasswd('app:x:1000:1000::/home/app:/bin/sh\n'), 1000); // '/home/app'
 * homeOf([], 1234); // '/'
 * ```
 */
export function homeOf(passwd: readonly PasswdEntry[], uid: number): string {
  const home = passwd.find((p) => p.uid === uid)?.home ?? '';
  return home === '' ? '/' : home;
}

/**
 * `env` with `HOME=<home>` added when it sets none (Docker's and BuildKit's rule).
 *
 * @example
 * ```ts
 * withHome(['PATH=/bin'], '/root'); // ['PATH=/bin', 'HOME=/root']
 * withHome(['HOME=/srv'], '/root'); // ['HOME=/srv']
 * ```
 */
export function withHome(env: readonly string[], home: string): string[] {
  return env.some((kv) => kv.startsWith('HOME=')) ? [...env] : [...env, `HOME=${home}`];
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
    const [name, , uid, gid, , home = ''] = fields as [string, string, string, string, string?, string?];
    if (!ID.test(uid) || !ID.test(gid)) continue;
    out.push({ name, uid: Number(uid), gid: Number(gid), home });
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

/**
 * The users and groups of a file system, read on first use and read again
 * whenever `version()` says the file system changed (a RUN that adds a user,
 * a COPY of /etc/passwd), so a later USER or `--chown` sees the new names.
 *
 * @example
 * ```ts
 * const users = new UserDb(() => state.view(), () => state.layers.at(-1));
 * await users.runUser('app'); // { uid: 1000, gid: 1000, additionalGids: [1000] }
 * ```
 */
export class UserDb {
  #passwd: Promise<PasswdEntry[] | undefined> | undefined;
  #group: Promise<GroupEntry[] | undefined> | undefined;
  #version: unknown;

  /**
   * @param fs the file system to read, as it stands.
   * @param version anything that changes when the file system does (the stage's top layer).
   */
  constructor(
    private readonly fs: () => Promise<UnionFS>,
    private readonly version: () => unknown = () => undefined,
  ) {
    this.#version = version();
  }

  /** Forgets what was read when the file system is no longer the one it was read from. */
  #current(): void {
    const version = this.version();
    if (version === this.#version) return;
    this.#version = version;
    this.#passwd = undefined;
    this.#group = undefined;
  }

  passwd(): Promise<PasswdEntry[] | undefined> {
    this.#current();
    this.#passwd ??= this.#read('/etc/passwd').then((t) => (t === undefined ? undefined : parsePasswd(t)));
    return this.#passwd;
  }

  group(): Promise<GroupEntry[] | undefined> {
    this.#current();
    this.#group ??= this.#read('/etc/group').then((t) => (t === undefined ? undefined : parseGroup(t)));
    return this.#group;
  }

  /** A numeric id in runc's range, else the builder's `INVALID_USER_ID` (positioned by the caller). */
  #id(text: string, kind: 'uid' | 'gid'): number {
    try {
      return numericId(text, kind);
    } catch (err) {
      if (err instanceof IdRangeError) throw new BuildError('INVALID_USER_ID', err.message, { reference: text, reason: `${kind} out of range` });
      throw err;
    }
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
        uid = this.#id(user, 'uid');
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
   * The user a RUN runs as, from `USER` (BuildKit's `GetUser`, runc's
   * `GetExecUser`):
   * - no USER: root, looked up by uid 0 (plain 0:0 when there is no entry);
   * - `uid:gid` with both numeric (or `root`): taken as they are;
   * - a name must be in /etc/passwd (else `unable to find user NAME`); a
   *   numeric uid need not be, and then runs with gid 0;
   * - `user:group` sets the group (a name must be in /etc/group) and no
   *   supplementary groups; without a group, the supplementary groups are
   *   those /etc/group lists the user's name in.
   * The primary gid is always one of the supplementary groups, first if it
   * was not listed (containerd's and BuildKit's `ensureAdditionalGids`), so
   * `id` shows it in `groups=` as in `docker run`.
   *
   * @throws {@link UnknownNameError}
   * @example
   * ```ts
   * await users.runUser('app');       // { uid: 1000, gid: 1000, additionalGids: [1000, 27] }
   * await users.runUser('1234');      // { uid: 1234, gid: 0, additionalGids: [0] } when 1234 has no entry
   * await users.runUser('app:staff'); // { uid: 1000, gid: 50, additionalGids: [50] }
   * ```
   */
  async runUser(spec: string): Promise<{ uid: number; gid: number; additionalGids: number[] }> {
    const withPrimary = (uid: number, gid: number, groups: number[]) => ({ uid, gid, additionalGids: [...new Set(groups.includes(gid) ? groups : [gid, ...groups])] });
    const isDefault = spec === '';
    const [user, group] = splitOwner(isDefault ? '0' : spec);
    const numeric = (v: string, kind: 'uid' | 'gid') => (v === 'root' ? 0 : ID.test(v) ? this.#id(v, kind) : undefined);
    if (group !== undefined && numeric(user, 'uid') !== undefined && numeric(group, 'gid') !== undefined) return withPrimary(numeric(user, 'uid')!, numeric(group, 'gid')!, []);
    const passwd = (await this.passwd()) ?? [];
    let name: string | undefined;
    let uid: number;
    let gid = 0;
    const found = ID.test(user) ? passwd.find((p) => p.uid === Number(user)) : passwd.find((p) => p.name === user);
    if (found) {
      ({ uid, gid, name } = found);
    } else if (ID.test(user)) {
      uid = this.#id(user, 'uid');
    } else {
      throw new UnknownNameError('user', user, '/etc/passwd');
    }
    if (group !== undefined && group !== '') return withPrimary(uid, await this.groupId(group), []);
    const groups = name === undefined ? [] : ((await this.group()) ?? []).filter((g) => g.members.includes(name!)).map((g) => g.gid);
    return withPrimary(uid, gid, groups);
  }

  async groupId(group: string): Promise<number> {
    if (ID.test(group)) return this.#id(group, 'gid');
    const found = (await this.group())?.find((g) => g.name === group);
    if (!found) throw new UnknownNameError('group', group, '/etc/group');
    return found.gid;
  }
}

function splitOwner(spec: string): [string, string | undefined] {
  const colon = spec.indexOf(':');
  return colon < 0 ? [spec, undefined] : [spec.slice(0, colon), spec.slice(colon + 1)];
}
