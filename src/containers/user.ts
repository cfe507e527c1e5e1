/**
 * A container's environment and user, from the image's config and
 * `create`'s options, as Docker fills them in.
 * @module
 */
import { IdRangeError, numericId, parseGroup, parsePasswd } from '../sandbox/users.js';
import type { UnionFS } from '../unionfs/union.js';
import { ContainerError } from './errors.js';
import type { ContainerSpec } from './state.js';

/** Docker's PATH for a container whose image sets none. */
export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The image's Env with overrides (the same key: the override wins, in the
 * image's position), and Docker's PATH when neither sets one.
 *
 * @example
 * ```ts
 * mergeEnv(['A=1', 'B=2'], ['B=3', 'C=4']); // ['A=1', 'B=3', 'C=4', 'PATH=/usr/local/sbin:…']
 * ```
 */
export function mergeEnv(base: string[], extra: string[]): string[] {
  const out = [...base];
  for (const kv of extra) {
    const key = kv.split('=')[0];
    const at = out.findIndex((e) => e.split('=')[0] === key);
    if (at >= 0) out[at] = kv;
    else out.push(kv);
  }
  if (!out.some((e) => e.startsWith('PATH='))) out.push(DEFAULT_PATH);
  return out;
}

/**
 * `user[:group]` against the image's /etc/passwd and /etc/group (numbers
 * as they are; the user's groups from /etc/group as supplementary groups).
 *
 * @throws {@link ContainerError} `UNKNOWN_USER` for a name neither file has,
 *   `INVALID_USER_ID` for an id outside 0…2147483647 (runc's range).
 * @example
 * ```ts
 * await resolveUser(view, 'app:staff'); // { uid: 1000, gid: 50, additionalGids: [] }
 * ```
 */
export async function resolveUser(view: UnionFS, spec: string): Promise<ContainerSpec['user']> {
  const [user = '', group] = spec.split(':');
  const id = (text: string, kind: 'uid' | 'gid') => {
    try {
      return numericId(text, kind);
    } catch (err) {
      if (!(err instanceof IdRangeError)) throw err;
      throw new ContainerError('INVALID_USER_ID', `invalid user ${JSON.stringify(spec)}: ${err.message}`, { reason: `${kind} out of range` });
    }
  };
  const passwd = parsePasswd(String(await view.readFile('/etc/passwd', 'utf8').catch(() => '')));
  const groups = parseGroup(String(await view.readFile('/etc/group', 'utf8').catch(() => '')));
  let uid = 0;
  let gid = 0;
  let name: string | undefined;
  if (/^\d+$/.test(user)) {
    uid = id(user, 'uid');
    const found = passwd.find((p) => p.uid === uid);
    gid = found?.gid ?? 0;
    name = found?.name;
  } else if (user !== '') {
    const found = passwd.find((p) => p.name === user);
    if (!found) throw new ContainerError('UNKNOWN_USER', `unable to find user ${user}: no matching entries in passwd file`, { reason: 'unknown user' });
    ({ uid, gid } = found);
    name = found.name;
  } else name = passwd.find((p) => p.uid === 0)?.name;
  if (group !== undefined && group !== '') {
    if (/^\d+$/.test(group)) gid = id(group, 'gid');
    else {
      const found = groups.find((g) => g.name === group);
      if (!found) throw new ContainerError('UNKNOWN_USER', `unable to find group ${group}: no matching entries in group file`, { reason: 'unknown group' });
      gid = found.gid;
    }
  }
  const additionalGids = name === undefined ? [] : groups.filter((g) => g.members.includes(name) && g.gid !== gid).map((g) => g.gid);
  return { uid, gid, additionalGids };
}
