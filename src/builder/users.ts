/**
 * Users and groups of a stage: `--chown`, `USER` and mount owners are
 * resolved against the stage's own /etc/passwd and /etc/group, read as data
 * from its file system (never through the host's name service).
 * @module
 */
import type { UnionFS } from '../unionfs/union.js';
import { BuildError } from './errors.js';
import { type PasswdEntry, type GroupEntry, IdRangeError, numericId, parsePasswd, parseGroup } from '../sandbox/users.js';

const ID = /^[0-9]+$/;

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
