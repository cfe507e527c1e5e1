/**
 * /etc/passwd and /etc/group as data: the parsers, runc's id range and the
 * HOME a user gets. Shared by the sandbox, the containers and the builder's
 * user resolution; nothing here reads the host's name service.
 * @module
 */

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
