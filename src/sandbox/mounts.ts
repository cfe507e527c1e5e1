/**
 * `RUN --mount` for the sandbox: what each mount becomes (a bind of a host
 * directory, a private file, a tmpfs), with BuildKit's rules:
 *
 * - `bind`: from the context (checked to stay inside it) or a stage/image
 *   (its subtree copied out of the builder's view into the step's
 *   directory); read-only unless `rw`, and then writes are discarded.
 * - `cache`: the builder's persistent directory under the store, keyed by
 *   id; `sharing=locked` waits for other steps of this process using the
 *   same cache, `private` uses a fresh directory while it is in use.
 * - `tmpfs`: a new tmpfs (`size=`).
 * - `secret`: a file in a tmpfs private to the step's namespaces (never on
 *   the host's disk, never in a layer), at `/run/secrets/<id>` or `target`;
 *   `env=` puts it in the command's environment instead or as well.
 * - `ssh`: the agent socket given for its id, bound at `target` (default
 *   `/run/buildkit/ssh_agent.N`), `SSH_AUTH_SOCK` set to the first one, as
 *   BuildKit does; served on a socket of the step's own that forwards to the
 *   agent, with the mount's `uid`/`gid`/`mode` (default 0:0, 0600).
 * @module
 */
import { cp, mkdir, readdir, realpath, stat, chmod, chown, lchown } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { join, posix, sep } from 'node:path';
import { Container } from '../unionfs/container.js';
import type { Mount, RunContext, RunStep } from './executor.js';
import { SandboxError } from './errors.js';
import type { MountOp } from './prepare.js';
import { chownForSandbox } from './id-map.js';

/** A mount of the step before its target is resolved inside the root file system. */
export interface PlannedMount {
  /** Absolute target inside the root file system, as written (resolved later). */
  target: string;
  /** Whether the mount point is a directory or a file. */
  kind: 'dir' | 'file';
  /** The mount itself, with `target` to be replaced by the resolved path. */
  op: MountOp;
}

/** What the mounts of a step need. */
export interface MountsPlan {
  mounts: PlannedMount[];
  /** Secrets, written into the namespace's private tmpfs (`p/<name>`). */
  secrets: Array<{ name: string; data: Uint8Array; mode: number; uid: number; gid: number }>;
  /** `K=V` added to the command's environment (secret `env=`). */
  env: string[];
  /** Releases locks and the cache directories in use. */
  release(): void;
}

const cacheUse = new Map<string, { count: number; queue: Array<() => void> }>();

async function acquire(path: string, exclusive: boolean): Promise<() => void> {
  let state = cacheUse.get(path);
  if (!state) cacheUse.set(path, (state = { count: 0, queue: [] }));
  const s = state;
  if (exclusive) while (s.count > 0) await new Promise<void>((resolve) => s.queue.push(resolve));
  s.count++;
  return () => {
    s.count--;
    for (const wake of s.queue.splice(0)) wake();
    if (s.count === 0 && s.queue.length === 0) cacheUse.delete(path);
  };
}

function absoluteTarget(target: string | undefined, workdir: string, fallback?: string): string {
  const t = target ?? fallback;
  if (t === undefined || t === '') throw new SandboxError('MOUNT_SOURCE_INVALID', 'a mount needs a target', { reason: 'no target' });
  return posix.normalize(t.startsWith('/') ? t : posix.join(workdir, t));
}

/**
 * Resolves the step's mounts through the builder (`ctx.resolveMountSource`)
 * into what the setup script mounts. `stepDir` is the step's directory
 * (copies for rw binds and binds from stages go to its `x/`).
 */
export async function planMounts(step: RunStep, ctx: RunContext, stepDir: string): Promise<MountsPlan> {
  const scratch = join(stepDir, 'x');
  await mkdir(scratch, { recursive: true });
  const releases: Array<() => void> = [];
  const plan: MountsPlan = { mounts: [], secrets: [], env: [], release: () => releases.splice(0).forEach((r) => r()) };
  try {
    let n = 0;
    let sshMounts = 0;
    for (const mount of step.mounts) {
      n++;
      if (mount.type === 'cache' && mount.from !== undefined && mount.from !== '') {
        throw new SandboxError('MOUNT_UNSUPPORTED', 'RUN --mount=type=cache,from=… is not supported by the sandbox executor', { reason: 'cache seeded from a stage', ...position(step) });
      }
      const source = await ctx.resolveMountSource(mount);
      switch (source.kind) {
        case 'context': {
          const host = await insideContext(source.context.root, source.hostPath, step);
          const info = await stat(host);
          let from = host;
          if (!mount.readOnly) {
            // rw binds are writable but their writes are discarded (BuildKit).
            from = join(scratch, `bind-${n}`);
            await cp(host, from, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
          }
          const target = absoluteTarget(mount.target, step.workdir);
          plan.mounts.push({ target, kind: info.isDirectory() ? 'dir' : 'file', op: { kind: 'bind', source: from, target, readOnly: mount.readOnly } });
          break;
        }
        case 'layers': {
          const from = join(scratch, `bind-${n}`);
          const container = await Container.create(source.rootfs.lowers);
          const path = posix.normalize('/' + source.path);
          const info = await source.rootfs.stat(path).catch(() => undefined);
          if (!info) throw new SandboxError('MOUNT_SOURCE_INVALID', `mount source ${path} not found in ${mount.from}`, { path, ...position(step) });
          // Owners are kept only as root: an unprivileged caller cannot chown, and its own files are
          // root's inside the rootless sandbox's user namespace (--map-root-user), as layers mostly have them.
          const archive = process.getuid?.() === 0;
          if (info.isDirectory()) await container.copyOut(path === '/' ? '/.' : path + '/.', from, { archive });
          else await container.copyOut(path, from, { archive });
          const target = absoluteTarget(mount.target, step.workdir);
          plan.mounts.push({ target, kind: info.isDirectory() ? 'dir' : 'file', op: { kind: 'bind', source: from, target, readOnly: mount.readOnly } });
          break;
        }
        case 'cache': {
          let dir = source.hostPath;
          if (!(await stat(dir)).isDirectory()) {
            // A container's bind of one host file or socket (docker run -v FILE:PATH): bound as it is, shared.
            const target = absoluteTarget(mount.target, step.workdir);
            plan.mounts.push({ target, kind: 'file', op: { kind: 'bind', source: dir, target, readOnly: mount.readOnly } });
            break;
          }
          if (source.sharing === 'private' && (cacheUse.get(dir)?.count ?? 0) > 0) {
            dir = join(scratch, `cache-${n}`);
            await mkdir(dir);
          } else {
            releases.push(await acquire(dir, source.sharing === 'locked'));
          }
          if ((await readdir(dir)).length === 0) await prepareCacheDir(dir, mount);
          const target = absoluteTarget(mount.target, step.workdir);
          plan.mounts.push({ target, kind: 'dir', op: { kind: 'bind', source: dir, target, readOnly: mount.readOnly } });
          break;
        }
        case 'tmpfs': {
          const target = absoluteTarget(mount.target, step.workdir);
          const op: MountOp = source.sizeLimit === undefined ? { kind: 'tmpfs', target } : { kind: 'tmpfs', target, size: source.sizeLimit };
          plan.mounts.push({ target, kind: 'dir', op });
          break;
        }
        case 'secret': {
          if (source.data === null) break; // optional and not provided: no mount (BuildKit)
          if (mount.env !== undefined && mount.env !== '') plan.env.push(`${mount.env}=${Buffer.from(source.data).toString('utf8')}`);
          if (mount.env !== undefined && mount.env !== '' && (mount.target === undefined || mount.target === '')) break;
          const name = `secret-${n}`;
          plan.secrets.push({ name, data: source.data, mode: mount.mode ?? 0o400, uid: mount.uid ?? 0, gid: mount.gid ?? 0 });
          const target = absoluteTarget(mount.target, step.workdir, `/run/secrets/${source.id}`);
          plan.mounts.push({ target, kind: 'file', op: { kind: 'bind', source: join(stepDir, 'p', name), target, readOnly: true } });
          break;
        }
        case 'ssh': {
          if (source.socket === null) break; // optional and not provided: no mount (BuildKit)
          // A socket of the step's own, forwarding to the agent, so that it can have the mount's owner
          // and mode (the agent's is the caller's, 0600); bound where BuildKit puts it.
          const target = absoluteTarget(mount.target, step.workdir, `/run/buildkit/ssh_agent.${sshMounts++}`);
          const proxy = join(scratch, `ssh-${n}.sock`);
          releases.push(await forwardSocket(proxy, source.socket, mount, step));
          plan.mounts.push({ target, kind: 'file', op: { kind: 'bind', source: proxy, target, readOnly: false } });
          if (!plan.env.some((e) => e.startsWith('SSH_AUTH_SOCK='))) plan.env.push(`SSH_AUTH_SOCK=${target}`);
          break;
        }
      }
    }
    return plan;
  } catch (err) {
    plan.release();
    throw err;
  }
}

function position(step: RunStep): { instruction: string; line: number; column: number } {
  return { instruction: step.instruction, line: step.location.line, column: step.location.column };
}

/** The real path of a context bind source, refused when it leads outside the context. */
async function insideContext(root: string, hostPath: string, step: RunStep): Promise<string> {
  const realRoot = await realpath(root);
  let real: string;
  try {
    real = await realpath(hostPath);
  } catch (err) {
    throw new SandboxError('MOUNT_SOURCE_INVALID', `mount source ${hostPath} not found`, { path: hostPath, reason: String((err as NodeJS.ErrnoException).code), ...position(step) });
  }
  if (real !== realRoot && !real.startsWith(realRoot + sep)) {
    throw new SandboxError('MOUNT_SOURCE_INVALID', `mount source ${hostPath} leads outside the build context`, { path: hostPath, reason: 'outside the context', ...position(step) });
  }
  return real;
}

/**
 * Listens on `path` and pipes each connection to the agent at `agent`; the
 * socket gets the mount's mode and owner (BuildKit: 0600, 0:0 by default).
 * Returns what stops it and ends the connections still open.
 */
async function forwardSocket(path: string, agent: string, mount: Mount, step: RunStep): Promise<() => void> {
  const open = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(agent);
    open.add(client).add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  const stop = () => {
    server.close();
    for (const s of open) s.destroy();
    open.clear();
  };
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const mode = mount.mode ?? 0o600;
    const [uid, gid] = [mount.uid ?? 0, mount.gid ?? 0];
    await chmod(path, mode);
    if (process.getuid?.() === 0) await lchown(path, uid, gid);
    else if (uid !== 0 || gid !== 0) await chownForSandbox(path, uid, gid, mode);
  } catch (err) {
    stop();
    throw new SandboxError('SANDBOX_SETUP_FAILED', `cannot serve the ssh agent ${agent} to the step: ${(err as Error).message}`, {
      path,
      reason: String((err as NodeJS.ErrnoException).code ?? (err as Error).message),
      ...position(step),
    });
  }
  return stop;
}

/** A new cache directory gets the mount's mode and owner (BuildKit: 0755, 0:0 by default). */
async function prepareCacheDir(dir: string, mount: Mount): Promise<void> {
  await chmod(dir, mount.mode ?? 0o755);
  if (process.getuid?.() === 0) await chown(dir, mount.uid ?? 0, mount.gid ?? 0);
  else if ((mount.uid ?? 0) !== 0 || (mount.gid ?? 0) !== 0) await chownForSandbox(dir, mount.uid ?? 0, mount.gid ?? 0, mount.mode ?? 0o755);
}
