/**
 * Docker's container verbs without a daemon: `create`, `start` (attached or
 * detached), `run`, `stop`, `exec`, `ps`, `logs`, `rm` and `commit`, over
 * images of a layerkit store. A container is the image's layers (the same
 * extracted lower directories RUN steps use) under a writable layer of its
 * own, run in the sandbox's namespaces (see `docs/run.md`).
 *
 * A detached container is watched by a small supervisor: a detached host
 * shell that starts the namespaces, waits for them and writes the exit code
 * and time into the container's directory, so `ps` and `logs` work from any
 * process, after this one has gone.
 * @module
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseGroup, parsePasswd } from '../../users.js';
import type { RunContext, RunStep } from '../../executor.js';
import type { ImageStore } from '../../../image/store/store.js';
import type { Layer } from '../../../layers/layer.js';
import { layerFromOverlayUpper } from '../../../layers/overlay.js';
import { UnionFS } from '../../../unionfs/union.js';
import { SandboxError } from '../errors.js';
import { removeTree } from '../files.js';
import { finalCommand, prepareStep } from '../prepare-step.js';
import { probeSandbox, type SandboxCapabilities } from '../probe.js';
import { runSandbox } from '../process.js';
import { alive, inspectDir, readJson, writeJson, type ContainerConfig, type ContainerInfo, type ContainerRunState } from './state.js';

/**
 * Options of {@link ContainerRuntime.create}.
 *
 * @example
 * ```ts
 * const options: CreateOptions = { name: 'web', cmd: ['httpd', '-f'], env: ['PORT=8080'], network: 'host' };
 * ```
 */
export interface CreateOptions {
  /** `--name` (default: the id's first 12 characters). */
  name?: string;
  /** Replaces the image's Cmd (the arguments after the image in `docker run`). */
  cmd?: string[];
  /** Replaces the image's Entrypoint. */
  entrypoint?: string[];
  /** `-e K=V`, added to the image's Env. */
  env?: string[];
  /** `-w`. */
  workdir?: string;
  /** `-u user[:group]` (names from the image's /etc/passwd and /etc/group). */
  user?: string;
  /** `--network` (`host`, the default, or `none`). */
  network?: 'host' | 'none';
}

/**
 * How a command inside a container ended.
 *
 * @example
 * ```ts
 * const { exitCode }: ExitResult = await runtime.exec('web', ['true']);
 * ```
 */
export interface ExitResult {
  exitCode: number;
}

/**
 * Output callback of attached runs and `exec`.
 *
 * @example
 * ```ts
 * const onOutput: OutputListener = (stream, chunk) => (stream === 'stdout' ? process.stdout : process.stderr).write(chunk);
 * ```
 */
export type OutputListener = (stream: 'stdout' | 'stderr', chunk: Uint8Array) => void;

const ID = /^[0-9a-f]{64}$/;

/**
 * Containers of one store (state under `<store>/containers`).
 *
 * @example
 * ```ts
 * const runtime = new ContainerRuntime(new ImageStore('.layerkit'));
 * const web = await runtime.run('app:latest', { detach: true, name: 'web', cmd: ['httpd', '-f'] });
 * await runtime.exec('web', ['cat', '/etc/hostname'], { onOutput: (s, c) => process.stdout.write(c) });
 * console.log(await runtime.ps());
 * await runtime.stop('web');
 * await runtime.rm('web');
 * ```
 */
export class ContainerRuntime {
  readonly root: string;

  constructor(readonly store: ImageStore) {
    this.root = join(store.root, 'containers');
  }

  /** `docker create`: a container from an image of the store; nothing runs yet. */
  async create(image: string, options: CreateOptions = {}): Promise<ContainerInfo> {
    await this.#caps();
    const img = await this.store.getImage(image);
    const config = (await img.config()).config ?? {};
    const layers = await img.layers();
    const view = await UnionFS.open(layers);
    const entrypoint = options.entrypoint ?? config.Entrypoint ?? [];
    const argv = [...entrypoint, ...(options.cmd ?? (options.entrypoint ? [] : (config.Cmd ?? [])))];
    if (argv.length === 0) throw new SandboxError('SANDBOX_SETUP_FAILED', `no command: ${image} has no Cmd or Entrypoint and none was given`, { reason: 'no command' });
    const env = mergeEnv(config.Env ?? [], options.env ?? []);
    const id = randomBytes(32).toString('hex');
    const name = options.name ?? id.slice(0, 12);
    if (await this.#find(name).catch(() => undefined)) throw new SandboxError('SANDBOX_SETUP_FAILED', `the container name ${name} is already in use`, { reason: 'name in use' });
    const info: ContainerConfig = {
      id,
      name,
      image,
      imageDigest: await img.digest(),
      argv,
      env,
      workdir: options.workdir ?? (config.WorkingDir || '/'),
      user: await resolveUser(view, options.user ?? config.User ?? ''),
      network: options.network ?? 'host',
      created: new Date().toISOString(),
    };
    const dir = join(this.root, id);
    await mkdir(join(dir, 'u'), { recursive: true });
    await mkdir(join(dir, 'w'));
    await writeJson(join(dir, 'config.json'), info);
    return inspectDir(dir, info);
  }

  /**
   * `docker start`: detached (default) under a supervisor, or attached
   * (`attach: true`: output streamed, resolves with the exit code).
   */
  async start(nameOrId: string, options: { attach?: boolean; onOutput?: OutputListener; signal?: AbortSignal } = {}): Promise<ContainerInfo & Partial<ExitResult>> {
    const { dir, config } = await this.#find(nameOrId);
    const current = await inspectDir(dir, config);
    if (current.status === 'running') throw new SandboxError('SANDBOX_SETUP_FAILED', `container ${config.name} is already running`, { reason: 'running' });
    const caps = await this.#caps();
    // A fresh setup each start; the writable layer (u/, w/) stays.
    for (const name of await readdir(dir)) {
      if (!['u', 'w', 'config.json', 'stdout.log', 'stderr.log'].includes(name)) await removeTree(join(dir, name));
    }
    const layers = await (await this.store.getImage(config.imageDigest)).layers();
    const { step, ctx } = await this.#step(config, layers, options.onOutput);
    const prepared = await prepareStep(step, ctx, caps, { stepDir: dir, strategy: 'overlay' });
    const run: ContainerRunState = { rootName: prepared.rootName, startedAt: new Date().toISOString() };
    if (options.attach) {
      await writeJson(join(dir, 'state.json'), { ...run, supervisorPid: process.pid });
      const exit = await runSandbox({ argv: prepared.argv, input: prepared.input, onOutput: ctx.onOutput, signal: options.signal });
      await writeFile(join(dir, 'finished'), new Date().toISOString());
      await writeFile(join(dir, 'exit'), String(exit.started ? exit.exitCode : 125));
      if (!exit.started) throw new SandboxError('SANDBOX_SETUP_FAILED', `the container could not be set up: ${exit.setupLog.split('\n').pop() ?? ''}`, { reason: exit.setupLog });
      return { ...(await inspectDir(dir, config)), exitCode: exit.exitCode };
    }
    // The supervisor: a detached shell that runs the namespaces and records how they ended.
    const out = await open(join(dir, 'stdout.log'), 'a');
    const err = await open(join(dir, 'stderr.log'), 'a');
    try {
      // unshare exits 1 after printing this when its child died of SIGKILL (see process.ts): report 137.
      const supervise = [
        'd=$1; shift',
        '"$@" 3>"$d/status" </dev/null; code=$?',
        'if [ "$code" = 1 ]; then case "$(tail -n 1 "$d/stderr.log")" in "unshare: sigprocmask unblock failed"*) code=137;; esac; fi',
        'date -u +%Y-%m-%dT%H:%M:%SZ > "$d/finished"; echo $code > "$d/exit"',
      ].join('\n');
      const child = spawn(caps.tools.sh!, ['-c', supervise, 'supervisor', dir, ...prepared.argv], {
        detached: true,
        stdio: ['ignore', out.fd, err.fd],
        cwd: '/',
        env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' },
      });
      child.unref();
      await writeJson(join(dir, 'state.json'), { ...run, supervisorPid: child.pid });
    } finally {
      await out.close();
      await err.close();
    }
    // Wait for the setup to report (or fail) so that exec works as soon as start returns.
    for (let i = 0; i < 600; i++) {
      const status = await readFile(join(dir, 'status'), 'utf8').catch(() => '');
      if (/^exec$/m.test(status) || (await readFile(join(dir, 'exit'), 'utf8').catch(() => '')) !== '') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    return inspectDir(dir, config);
  }

  /** `docker run`: create, then start (detached or attached); `rm` removes it after an attached run. */
  async run(image: string, options: CreateOptions & { detach?: boolean; rm?: boolean; onOutput?: OutputListener; signal?: AbortSignal } = {}): Promise<ContainerInfo & Partial<ExitResult>> {
    const created = await this.create(image, options);
    if (options.detach) return this.start(created.id);
    try {
      return await this.start(created.id, { attach: true, ...(options.onOutput ? { onOutput: options.onOutput } : {}), ...(options.signal ? { signal: options.signal } : {}) });
    } finally {
      if (options.rm) await this.rm(created.id, { force: true });
    }
  }

  /** `docker stop`: SIGTERM to the container's init, SIGKILL after `timeoutMs` (default 10 s). */
  async stop(nameOrId: string, options: { timeoutMs?: number } = {}): Promise<ContainerInfo> {
    const { dir, config } = await this.#find(nameOrId);
    let info = await inspectDir(dir, config);
    if (info.status !== 'running' || !info.pid) return info;
    const pid = info.pid;
    const send = (signal: NodeJS.Signals) => {
      try {
        process.kill(pid, signal);
      } catch {
        // gone
      }
    };
    send('SIGTERM');
    const until = Date.now() + (options.timeoutMs ?? 10_000);
    while (Date.now() < until && alive(pid)) await new Promise((r) => setTimeout(r, 50));
    if (alive(pid)) send('SIGKILL');
    for (let i = 0; i < 200 && (info = await inspectDir(dir, config)).status === 'running'; i++) await new Promise((r) => setTimeout(r, 50));
    return info;
  }

  /**
   * `docker exec`: runs `argv` in the running container's namespaces and
   * root (as its user unless `user` says otherwise), attached.
   */
  async exec(nameOrId: string, argv: string[], options: { env?: string[]; workdir?: string; onOutput?: OutputListener } = {}): Promise<ExitResult> {
    const { dir, config } = await this.#find(nameOrId);
    const info = await inspectDir(dir, config);
    const run = await readJson<ContainerRunState>(join(dir, 'state.json'));
    if (info.status !== 'running' || !info.pid || !run?.rootName) throw new SandboxError('SANDBOX_SETUP_FAILED', `container ${config.name} is not running`, { reason: 'not running' });
    const caps = await this.#caps();
    const step = this.#runStep(config, argv, mergeEnv(config.env, options.env ?? []));
    const nsenter = caps.tools.nsenter ?? 'nsenter';
    const namespaces = ['-m', '-u', '-i', '-p', ...(config.network === 'none' ? ['-n'] : []), ...(caps.rootless ? ['-U', '--preserve-credentials'] : [])];
    const command = [nsenter, '-t', String(info.pid), ...namespaces, '--', ...finalCommand(caps, step, run.rootName, options.workdir ?? config.workdir)];
    return new Promise((resolve, reject) => {
      const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], cwd: '/', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
      child.stdout.on('data', (c: Buffer) => options.onOutput?.('stdout', new Uint8Array(c)));
      child.stderr.on('data', (c: Buffer) => options.onOutput?.('stderr', new Uint8Array(c)));
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ exitCode: code ?? 128 + (signal ? 9 : 0) }));
    });
  }

  /** `docker ps` (`all`: stopped ones too). */
  async ps(options: { all?: boolean } = {}): Promise<ContainerInfo[]> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    const out: ContainerInfo[] = [];
    for (const id of names.filter((n) => ID.test(n))) {
      const config = await readJson<ContainerConfig>(join(this.root, id, 'config.json'));
      if (!config) continue;
      const info = await inspectDir(join(this.root, id), config);
      if (options.all || info.status === 'running') out.push(info);
    }
    return out.sort((a, b) => b.created.localeCompare(a.created));
  }

  /** `docker inspect` of a container. */
  async inspect(nameOrId: string): Promise<ContainerInfo> {
    const { dir, config } = await this.#find(nameOrId);
    return inspectDir(dir, config);
  }

  /** `docker logs`: what the container wrote, by stream. */
  async logs(nameOrId: string): Promise<{ stdout: string; stderr: string }> {
    const { dir } = await this.#find(nameOrId);
    const read = (name: string) => readFile(join(dir, name), 'utf8').catch(() => '');
    return { stdout: await read('stdout.log'), stderr: await read('stderr.log') };
  }

  /** `docker rm` (`force`: stop it first). */
  async rm(nameOrId: string, options: { force?: boolean } = {}): Promise<void> {
    const { dir, config } = await this.#find(nameOrId);
    const info = await inspectDir(dir, config);
    if (info.status === 'running') {
      if (!options.force) throw new SandboxError('SANDBOX_SETUP_FAILED', `container ${config.name} is running: stop it first or use force`, { reason: 'running' });
      await this.stop(config.id, { timeoutMs: 0 });
    }
    await removeTree(dir);
  }

  /**
   * `docker commit`: the container's writable layer as a layer (whiteouts
   * and opaque directories from overlayfs turned into OCI markers). Stop
   * the container first for a consistent layer.
   */
  async commit(nameOrId: string, options: { sourceDateEpoch?: number } = {}): Promise<Layer> {
    const { dir } = await this.#find(nameOrId);
    return layerFromOverlayUpper(join(dir, 'u'), options);
  }

  async #caps(): Promise<SandboxCapabilities> {
    const caps = await probeSandbox();
    if (!caps.available) throw new SandboxError('SANDBOX_UNAVAILABLE', `containers cannot run here: ${caps.reason}`, { reason: caps.reason ?? 'unknown' });
    if (!caps.overlay) throw new SandboxError('SANDBOX_UNAVAILABLE', 'containers need overlayfs', { reason: 'overlay refused' });
    if (!caps.tools.nsenter) {
      const found = await new Promise<string | undefined>((r) => execFile('sh', ['-c', 'command -v nsenter'], (e, out) => r(e ? undefined : String(out).trim())));
      if (found) caps.tools.nsenter = found;
    }
    return caps;
  }

  async #find(nameOrId: string): Promise<{ dir: string; config: ContainerConfig }> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    for (const id of names.filter((n) => ID.test(n))) {
      const config = await readJson<ContainerConfig>(join(this.root, id, 'config.json'));
      if (config && (config.id === nameOrId || config.name === nameOrId || (nameOrId.length >= 4 && config.id.startsWith(nameOrId)))) {
        return { dir: join(this.root, id), config };
      }
    }
    throw new SandboxError('SANDBOX_SETUP_FAILED', `no such container: ${nameOrId}`, { reason: 'not found' });
  }

  #runStep(config: ContainerConfig, argv: string[], env: string[]): RunStep {
    return {
      argv,
      env,
      workdir: config.workdir,
      user: config.user,
      mounts: [],
      network: config.network,
      security: 'sandbox',
      heredocs: [],
      instruction: `container ${config.name}`,
      location: { line: 0, column: 0 },
    };
  }

  async #step(config: ContainerConfig, layers: Layer[], onOutput: OutputListener | undefined): Promise<{ step: RunStep; ctx: RunContext }> {
    const ctx: RunContext = {
      lowers: layers,
      rootfs: await UnionFS.open(layers),
      storeRoot: this.store.root,
      resolveMountSource: () => Promise.reject(new SandboxError('MOUNT_UNSUPPORTED', 'containers have no RUN mounts', {})),
      onOutput: onOutput ?? (() => {}),
    };
    return { step: this.#runStep(config, config.argv, config.env), ctx };
  }
}

/** Image Env with overrides (same key: the override wins, in the image's position). */
function mergeEnv(base: string[], extra: string[]): string[] {
  const out = [...base];
  for (const kv of extra) {
    const key = kv.split('=')[0];
    const at = out.findIndex((e) => e.split('=')[0] === key);
    if (at >= 0) out[at] = kv;
    else out.push(kv);
  }
  if (!out.some((e) => e.startsWith('PATH='))) out.push('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  return out;
}

/** `user[:group]` against the image's /etc/passwd and /etc/group (numbers as they are). */
async function resolveUser(view: UnionFS, spec: string): Promise<ContainerConfig['user']> {
  const [user = '', group] = spec.split(':');
  const passwd = parsePasswd(String(await view.readFile('/etc/passwd', 'utf8').catch(() => '')));
  const groups = parseGroup(String(await view.readFile('/etc/group', 'utf8').catch(() => '')));
  let uid = 0;
  let gid = 0;
  let name: string | undefined;
  if (/^\d+$/.test(user)) {
    uid = Number(user);
    const found = passwd.find((p) => p.uid === uid);
    gid = found?.gid ?? 0;
    name = found?.name;
  } else if (user !== '') {
    const found = passwd.find((p) => p.name === user);
    if (!found) throw new SandboxError('SANDBOX_SETUP_FAILED', `unable to find user ${user}: no matching entries in passwd file`, { reason: 'unknown user' });
    ({ uid, gid } = found);
    name = found.name;
  } else name = passwd.find((p) => p.uid === 0)?.name;
  if (group !== undefined && group !== '') {
    if (/^\d+$/.test(group)) gid = Number(group);
    else {
      const found = groups.find((g) => g.name === group);
      if (!found) throw new SandboxError('SANDBOX_SETUP_FAILED', `unable to find group ${group}: no matching entries in group file`, { reason: 'unknown group' });
      gid = found.gid;
    }
  }
  const additionalGids = name === undefined ? [] : groups.filter((g) => g.members.includes(name) && g.gid !== gid).map((g) => g.gid);
  return { uid, gid, additionalGids };
}
