/**
 * Docker's container verbs without a daemon: `create`, `start` (attached or
 * detached), `run`, `stop`, `restart`, `pause`, `unpause`, `exec`, `ps`,
 * `logs`, `rm`, `commit`, `cp` and `diff`, over images of a layerkit store.
 * A container is the image's layers (the same extracted lower directories
 * RUN steps use) under a writable layer of its own, run in the sandbox's
 * namespaces (see `docs/run.md`).
 *
 * A detached container is watched by a small supervisor: a detached host
 * shell that starts the namespaces, waits for them and writes the exit code
 * and time into the container's directory, so `ps` and `logs` work from any
 * process, after this one has gone.
 * @module
 */
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunContext, RunStep } from '../sandbox/executor.js';
import type { ImageStore } from '../image/store/store.js';
import type { Entry } from '../layers/entry.js';
import type { ExtractResult } from '../layers/extract.js';
import { layerFromEntries } from '../layers/from-entries.js';
import type { Layer } from '../layers/layer.js';
import type { UnionChange } from '../unionfs/commit.js';
import { Container } from '../unionfs/container.js';
import { UnionFS } from '../unionfs/union.js';
import { SandboxError } from '../sandbox/errors.js';
import { removeTree } from '../sandbox/files.js';
import { finalCommand, prepareStep } from '../sandbox/prepare-step.js';
import { handBackForWrite, OWNERS_FILE, sandboxIds } from '../sandbox/id-map.js';
import { findProgram, probeSandbox, type SandboxCapabilities } from '../sandbox/probe.js';
import { runAttached, withTerminalSize, type AttachOptions } from './attach.js';
import { createCgroup, inCgroup, joinCgroupArgv, removeCgroup, setFrozen } from './cgroup.js';
import { containerChanges, writableEntries } from './changes.js';
import { commitImage, type ContainerCommitOptions, type ContainerCommitResult } from './commit.js';
import { copyIntoRoot, copyTarget, copyWrites } from './copy-in.js';
import { ContainerError } from './errors.js';
import { runningRoot, withMountedRoot } from './rootfs.js';
import { containerSpec, type CreateOptions } from './spec.js';
import { alive, findContainer, inspectDir, listContainers, lookupContainer, readJson, writeJson, type ContainerInfo, type ContainerRunState, type ContainerSpec } from './state.js';
import { startSupervisor } from './supervisor.js';
import { mergeEnv, resolveUser } from './user.js';
import { findInit, INIT_PATH, prepareMounts, sandboxMounts } from './volumes.js';
import { homeOf, parsePasswd, withHome } from '../sandbox/users.js';
import { closeFifo, publish, USER_NETWORK } from '../sandbox/user-network.js';

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
 * Options of {@link ContainerRuntime.exec}.
 *
 * @example
 * ```ts
 * const options: ExecOptions = { env: ['DEBUG=1'], workdir: '/tmp', stdin: process.stdin, tty: true };
 * ```
 */
export interface ExecOptions extends AttachOptions {
  /** `-e K=V`, over the container's environment. */
  env?: string[];
  /** `-w` (default: the container's). */
  workdir?: string;
  /** `-u USER[:GROUP]` (default: the container's user). */
  user?: string;
}

/** What a new start of a container keeps in its directory. */
const KEPT = new Set(['u', 'w', OWNERS_FILE, 'config.json', 'stdout.log', 'stderr.log', 'stdout.log.times', 'stderr.log.times']);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The container's hostname: `--hostname`, else its short ID (Docker's). */
function hostnameOf(config: ContainerSpec): string {
  return config.hostname ?? config.id.slice(0, 12);
}

/** The parent of a host process (field 4 of `/proc/PID/stat`). */
function parentPid(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return ppid > 0 ? ppid : undefined;
  } catch {
    return undefined;
  }
}

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
 * await runtime.commit('web', { reference: 'app:patched' });
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
    if (options.name !== undefined && (await lookupContainer(this.root, options.name))) {
      throw new ContainerError('NAME_IN_USE', `the container name ${options.name} is already in use`, { container: options.name, reason: 'name in use' });
    }
    await prepareMounts(this.store.root, options.mounts ?? []);
    if (options.init) await findInit();
    const spec = await containerSpec(await this.store.getImage(image), image, options);
    const dir = join(this.root, spec.id);
    await mkdir(join(dir, 'u'), { recursive: true });
    await mkdir(join(dir, 'w'));
    await writeJson(join(dir, 'config.json'), spec);
    return inspectDir(dir, spec);
  }

  /**
   * `docker start`: detached (default) under a supervisor, or attached
   * (`attach: true`: output streamed and logged, `stdin`/`tty` as `-i`/`-t`;
   * resolves with the exit code). Starting a running container is a no-op,
   * as in Docker.
   */
  async start(nameOrId: string, { attach, ...attachOptions }: AttachOptions & { attach?: boolean } = {}): Promise<ContainerInfo & Partial<ExitResult>> {
    const { dir, config } = await findContainer(this.root, nameOrId);
    const current = await inspectDir(dir, config);
    if (current.status === 'paused') throw new ContainerError('CONTAINER_PAUSED', `container ${config.name} is paused: unpause it first`, { container: nameOrId });
    if (current.status === 'running') {
      if (attach) throw new ContainerError('CONTAINER_RUNNING', `container ${config.name} is already running: attaching to it is not supported`, { container: nameOrId });
      return current;
    }
    const caps = await this.#caps();
    if (attach && attachOptions.tty) this.#needScript(caps);
    // A fresh setup each start; the writable layer (u/, w/) and the logs stay.
    await removeCgroup((await readJson<ContainerRunState>(join(dir, 'state.json')))?.cgroup);
    for (const name of await readdir(dir)) if (!KEPT.has(name)) await removeTree(join(dir, name));
    const layers = await (await this.store.getImage(config.imageDigest)).layers();
    const { step, ctx } = await this.#step(config, layers);
    const terminal = attach === true && attachOptions.tty === true;
    const ids = await sandboxIds(caps);
    const prepared = await prepareStep(step, ctx, caps, { stepDir: dir, strategy: 'overlay', hostname: hostnameOf(config), ...(terminal ? { tty: true } : {}), ...(ids?.map ? { idMap: ids.map } : {}) });
    const cgroup = await createCgroup(config.id);
    const cgroupPath = 'path' in cgroup ? cgroup.path : undefined;
    const run: ContainerRunState = {
      rootName: prepared.rootName,
      startedAt: new Date().toISOString(),
      ...('path' in cgroup ? { cgroup: cgroup.path } : { cgroupReason: cgroup.reason }),
    };
    const argv = [...joinCgroupArgv(caps.tools.sh!, cgroupPath), ...prepared.argv];
    const ports = config.ports ?? [];
    if (ports.length > 0 && prepared.network !== 'user') {
      closeFifo(prepared.goFd);
      prepared.release();
      throw new ContainerError('NETWORK_UNAVAILABLE', `cannot publish ports of ${config.name}: ${config.network === 'bridge' ? 'slirp4netns cannot run here (Debian package slirp4netns, and /dev/net/tun)' : `the network is ${config.network}`}`, { container: nameOrId, reason: 'no user-mode network' });
    }
    if (attach) {
      await writeJson(join(dir, 'state.json'), { ...run, supervisorPid: process.pid, attached: true });
      let exitCode = 125;
      try {
        const exit = await runAttached({
          argv,
          sh: caps.tools.sh!,
          ...(caps.tools.script ? { script: caps.tools.script } : {}),
          statusFile: join(dir, 'status'),
          logs: { stdout: join(dir, 'stdout.log'), stderr: join(dir, 'stderr.log') },
          userNetwork:
            prepared.goFd === undefined
              ? undefined
              : { caps, stepDir: dir, goFd: prepared.goFd, api: ports.length > 0, onReady: (network) => network.publish(ports) },
          ...attachOptions,
        });
        if (!exit.started) throw new SandboxError('SANDBOX_SETUP_FAILED', `the container could not be set up: ${exit.setupLog.split('\n').pop() ?? ''}`, { reason: exit.setupLog });
        exitCode = exit.exitCode;
      } finally {
        // Recorded whatever happened: this process is the container's supervisor and outlives it.
        await writeFile(join(dir, 'finished'), new Date().toISOString());
        await writeFile(join(dir, 'exit'), String(exitCode));
        prepared.release();
        await removeCgroup(cgroupPath);
        if (config.autoRemove) await removeTree(dir);
      }
      return { ...(await inspectDir(dir, config)), exitCode };
    }
    const slirp = [caps.tools.slirp4netns!, '--configure', `--mtu=${USER_NETWORK.mtu}`, '--disable-host-loopback', ...(ports.length > 0 ? ['--api-socket', 'slirp.sock'] : [])];
    await startSupervisor({
      dir,
      autoRemove: config.autoRemove === true,
      argv,
      run,
      sh: caps.tools.sh!,
      cgroup: cgroupPath,
      ...(prepared.network === 'user' ? { userNetwork: slirp, rootless: caps.rootless } : {}),
    });
    closeFifo(prepared.goFd);
    prepared.release();
    // Wait for the setup to report (or fail), then for the command's chroot, so that exec and cp work as soon as start returns.
    for (let i = 0; i < 600; i++) {
      const status = await readFile(join(dir, 'status'), 'utf8').catch(() => '');
      if (/^exec$/m.test(status) || (await readFile(join(dir, 'exit'), 'utf8').catch(() => '')) !== '') break;
      await sleep(50);
    }
    const info = await this.inspect(config.id).catch(() => inspectDir(dir, config));
    if (info.status === 'running' && info.pid) await runningRoot(info.pid, dir);
    if (info.status === 'running' && ports.length > 0) {
      const slirpPid = Number((await readFile(join(dir, 'slirp.pid'), 'utf8').catch(() => '0')).trim());
      try {
        await publish(slirpPid, ports);
      } catch (err) {
        await this.stop(config.id, { timeoutMs: 0 });
        throw new ContainerError('NETWORK_UNAVAILABLE', `${config.name}: ${(err as Error).message}`, { container: nameOrId, reason: 'publish failed' }, { cause: err });
      }
    }
    return info;
  }

  /** `docker run`: create, then start (detached or attached); `rm` removes it once it has exited. */
  async run(image: string, options: CreateOptions & AttachOptions & { detach?: boolean; rm?: boolean } = {}): Promise<ContainerInfo & Partial<ExitResult>> {
    const { detach, rm, stdin, tty, terminal, onOutput, signal, ...create } = options;
    const created = await this.create(image, { ...create, ...(tty ? { tty } : {}), ...(rm && detach ? { autoRemove: true } : {}) });
    if (detach) return this.start(created.id);
    try {
      return await this.start(created.id, { attach: true, ...(stdin ? { stdin } : {}), ...(tty ? { tty } : {}), ...(terminal ? { terminal } : {}), ...(onOutput ? { onOutput } : {}), ...(signal ? { signal } : {}) });
    } finally {
      if (rm) await this.rm(created.id, { force: true });
    }
  }

  /** `docker stop`: SIGTERM to the container's init, SIGKILL after `timeoutMs` (default 10 s); a paused container is thawed first. */
  async stop(nameOrId: string, options: { timeoutMs?: number } = {}): Promise<ContainerInfo> {
    const { dir, config } = await findContainer(this.root, nameOrId);
    let info = await inspectDir(dir, config);
    if (info.status === 'paused') {
      await setFrozen((await readJson<ContainerRunState>(join(dir, 'state.json')))!.cgroup!, false);
      info = await inspectDir(dir, config);
    }
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
    while (Date.now() < until && alive(pid)) await sleep(50);
    if (alive(pid)) send('SIGKILL');
    for (let i = 0; i < 200 && (info = await inspectDir(dir, config)).status === 'running'; i++) await sleep(50);
    // A detached container's supervisor still records the end and removes the cgroup: let it finish.
    const run = await readJson<ContainerRunState>(join(dir, 'state.json'));
    for (let i = 0; i < 100 && !run?.attached && alive(run?.supervisorPid); i++) await sleep(50);
    return info;
  }

  /** `docker restart`: stop (if running), then start detached. */
  async restart(nameOrId: string, options: { timeoutMs?: number } = {}): Promise<ContainerInfo> {
    const stopped = await this.stop(nameOrId, options);
    return this.start(stopped.id);
  }

  /**
   * `docker pause`: freezes every process of the container (cgroup v2
   * freezer).
   *
   * @throws {@link ContainerError} `FREEZER_UNAVAILABLE` (with the reason:
   *   no cgroup v2, not delegated, kernel without `cgroup.freeze`),
   *   `CONTAINER_NOT_RUNNING`, `CONTAINER_PAUSED`.
   */
  async pause(nameOrId: string): Promise<ContainerInfo> {
    const { dir, config } = await findContainer(this.root, nameOrId);
    const info = await inspectDir(dir, config);
    if (info.status === 'paused') throw new ContainerError('CONTAINER_PAUSED', `container ${config.name} is already paused`, { container: nameOrId });
    if (info.status !== 'running' || !info.pid) throw new ContainerError('CONTAINER_NOT_RUNNING', `container ${config.name} is not running`, { container: nameOrId });
    const run = (await readJson<ContainerRunState>(join(dir, 'state.json'))) ?? {};
    if (run.cgroup === undefined) {
      throw new ContainerError('FREEZER_UNAVAILABLE', `cannot pause ${config.name}: it has no cgroup of its own (${run.cgroupReason ?? 'unknown reason'})`, { container: nameOrId, reason: run.cgroupReason ?? 'no cgroup' });
    }
    if (!(await inCgroup(run.cgroup, info.pid))) {
      throw new ContainerError('FREEZER_UNAVAILABLE', `cannot pause ${config.name}: its processes could not join ${run.cgroup}`, { container: nameOrId, path: run.cgroup, reason: 'not in its cgroup' });
    }
    await setFrozen(run.cgroup, true);
    return inspectDir(dir, config);
  }

  /** `docker unpause`: thaws a paused container. */
  async unpause(nameOrId: string): Promise<ContainerInfo> {
    const { dir, config } = await findContainer(this.root, nameOrId);
    const info = await inspectDir(dir, config);
    if (info.status !== 'paused') throw new ContainerError('CONTAINER_NOT_PAUSED', `container ${config.name} is not paused`, { container: nameOrId });
    await setFrozen((await readJson<ContainerRunState>(join(dir, 'state.json')))!.cgroup!, false);
    return inspectDir(dir, config);
  }

  /**
   * `docker exec`: runs `argv` in the running container's namespaces, root
   * and cgroup (as its user), attached; `stdin`/`tty` as `-i`/`-t`.
   */
  async exec(nameOrId: string, argv: string[], options: ExecOptions = {}): Promise<ExitResult> {
    const { dir, config } = await findContainer(this.root, nameOrId);
    const info = await inspectDir(dir, config);
    const run = await readJson<ContainerRunState>(join(dir, 'state.json'));
    if (info.status === 'paused') throw new ContainerError('CONTAINER_PAUSED', `container ${config.name} is paused: unpause it before exec`, { container: nameOrId });
    if (info.status !== 'running' || !info.pid || !run?.rootName) throw new ContainerError('CONTAINER_NOT_RUNNING', `container ${config.name} is not running`, { container: nameOrId });
    const caps = await this.#caps();
    if (options.tty) this.#needScript(caps);
    const env = mergeEnv(config.env, [...(options.env ?? []), ...(options.tty && !config.env.some((e) => e.startsWith('TERM=')) ? ['TERM=xterm'] : [])]);
    const view = await UnionFS.open(await (await this.store.getImage(config.imageDigest)).layers());
    const passwd = parsePasswd(String(await view.readFile('/etc/passwd', 'utf8').catch(() => '')));
    // -u: resolved in the image's /etc/passwd and /etc/group, as at create.
    const user = options.user === undefined ? config.user : await resolveUser(view, options.user);
    const step = this.#runStep({ ...config, user }, argv, withHome(env, homeOf(passwd, user.uid)));
    // Rootless: the user namespace that owns the others is the init's parent's (a non-root USER runs in a nested one).
    const owner = caps.rootless ? parentPid(info.pid) : undefined;
    const namespaces = [
      '-m', '-u', '-i', '-p',
      ...(config.network === 'host' ? [] : ['-n']),
      ...(caps.rootless ? [`--user=/proc/${owner ?? info.pid}/ns/user`, '--preserve-credentials'] : []),
    ];
    const final = finalCommand(caps, step, run.rootName, options.workdir ?? config.workdir, [], (await sandboxIds(caps))?.map);
    // -t: util-linux script makes the terminal inside the container's namespaces, from its own devpts
    // (reachable from the helper root as /dev/pts), so the command sees /dev/pts/N as Docker's would.
    const inside = options.tty ? [caps.tools.script!, '-qec', withTerminalSize(final, options.terminal), '/dev/null'] : final;
    const command = [caps.tools.nsenter!, '-t', String(info.pid), ...namespaces, '--', ...inside];
    const exit = await runAttached({
      argv: [...joinCgroupArgv(caps.tools.sh!, run.cgroup), ...command],
      sh: caps.tools.sh!,
      ...options,
      ...(options.tty ? { terminalBuilt: true } : {}),
    });
    return { exitCode: exit.exitCode };
  }

  /** `docker ps` (`all`: stopped ones too), newest first. */
  async ps(options: { all?: boolean } = {}): Promise<ContainerInfo[]> {
    const out: ContainerInfo[] = [];
    for (const { dir, config } of await listContainers(this.root)) {
      const info = await inspectDir(dir, config);
      if (options.all || info.status === 'running' || info.status === 'paused') out.push(info);
    }
    return out.sort((a, b) => b.created.localeCompare(a.created));
  }

  /** `docker inspect` of a container. */
  async inspect(nameOrId: string): Promise<ContainerInfo> {
    const { dir, config } = await findContainer(this.root, nameOrId);
    return inspectDir(dir, config);
  }

  /** `docker logs`: what the container wrote, by stream. */
  async logs(nameOrId: string): Promise<{ stdout: string; stderr: string }> {
    const { dir } = await findContainer(this.root, nameOrId);
    const read = (name: string) => readFile(join(dir, name), 'utf8').catch(() => '');
    return { stdout: await read('stdout.log'), stderr: await read('stderr.log') };
  }

  /** `docker rm` (`force`: stop it first, even when paused). */
  async rm(nameOrId: string, options: { force?: boolean } = {}): Promise<void> {
    const { dir, config } = await findContainer(this.root, nameOrId);
    const info = await inspectDir(dir, config);
    if (info.status === 'running' || info.status === 'paused') {
      if (!options.force) throw new ContainerError('CONTAINER_RUNNING', `container ${config.name} is ${info.status}: stop it first or use force`, { container: nameOrId });
      await this.stop(config.id, { timeoutMs: 0 });
    }
    await removeCgroup((await readJson<ContainerRunState>(join(dir, 'state.json')))?.cgroup);
    await removeTree(dir);
  }

  /**
   * The container's writable layer as a layer (null when it changed
   * nothing): whiteouts and opaque directories from overlayfs turned into
   * OCI markers, copied-up but unchanged files left out. Stop or pause the
   * container for a consistent layer.
   */
  async writableLayer(nameOrId: string, options: { sourceDateEpoch?: number } = {}): Promise<Layer | null> {
    const { dir, config } = await findContainer(this.root, nameOrId);
    const entries = await this.#entries(dir, config, options.sourceDateEpoch);
    return entries.length > 0 ? layerFromEntries(entries, options.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: options.sourceDateEpoch }) : null;
  }

  /**
   * `docker diff`: what the container changed against its image (`A`
   * added, `C` changed, `D` deleted), parents before children.
   *
   * @example
   * ```ts
   * for (const c of await runtime.diff('web')) console.log(c.kind, c.path); // C /srv, A /srv/made.txt
   * ```
   */
  async diff(nameOrId: string): Promise<UnionChange[]> {
    const { dir, config } = await findContainer(this.root, nameOrId);
    const image = await UnionFS.open(await (await this.store.getImage(config.imageDigest)).layers());
    return containerChanges(await this.#entries(dir, config, undefined, image), image);
  }

  /**
   * `docker commit`: a new image in the store from the container's image,
   * its writable layer and its configuration (see {@link ContainerCommitOptions});
   * a running container is frozen meanwhile where it can be.
   */
  async commit(nameOrId: string, options: ContainerCommitOptions = {}): Promise<ContainerCommitResult> {
    const { dir, config } = await findContainer(this.root, nameOrId);
    const info = await inspectDir(dir, config);
    let froze: string | undefined;
    if (info.status === 'running' && options.pause !== false) {
      froze = await this.pause(config.id).then(
        async () => (await readJson<ContainerRunState>(join(dir, 'state.json')))?.cgroup,
        () => undefined,
      );
    }
    try {
      const base = await this.store.getImage(config.imageDigest);
      const entries = await this.#entries(dir, config, options.sourceDateEpoch);
      return await commitImage(this.store, base, config, entries, options);
    } finally {
      if (froze !== undefined) await setFrozen(froze, false);
    }
  }

  /**
   * `docker cp HOST CONTAINER:PATH`: writes into the container's writable
   * layer through its mounted root file system (see `copy-in.ts` for the
   * rules and the path safety). Works on running and stopped containers.
   */
  async copyIn(nameOrId: string, hostPath: string, containerPath: string, options: { archive?: boolean } = {}): Promise<void> {
    const { dir, config } = await findContainer(this.root, nameOrId);
    const info = await inspectDir(dir, config);
    if ((info.status === 'running' || info.status === 'paused') && info.pid) {
      const root = await runningRoot(info.pid, dir);
      if (root === undefined) throw new ContainerError('CONTAINER_NOT_RUNNING', `container ${config.name} stopped during the copy`, { container: nameOrId });
      await copyIntoRoot(root, hostPath, containerPath, options);
      return;
    }
    const caps = await this.#caps();
    const layers = await (await this.store.getImage(config.imageDigest)).layers();
    const map = (await sandboxIds(caps))?.map;
    await withMountedRoot(
      dir,
      layers,
      this.store.root,
      caps,
      async (root, helper) => {
        // Rootless with subordinate ids: the image's directories belong to other ids than the caller's.
        if (map) {
          const enter = [caps.tools.nsenter!, '-t', String(helper.pid), '--user', '--mount', '--'];
          await handBackForWrite(enter, caps.tools, helper.merged, await copyTarget(root, hostPath, containerPath), await copyWrites(hostPath), join(dir, OWNERS_FILE));
        }
        await copyIntoRoot(root, hostPath, containerPath, options);
      },
      map,
    );
  }

  /**
   * `docker cp CONTAINER:PATH HOST`: reads through the container's union
   * view (its image's layers under its writable layer) with the unionfs
   * `Container.copyOut` rules; written on the host with the layers module's
   * safe extractor.
   */
  async copyOut(nameOrId: string, containerPath: string, hostPath: string, options: { archive?: boolean } = {}): Promise<ExtractResult> {
    const { dir, config } = await findContainer(this.root, nameOrId);
    const layers = await (await this.store.getImage(config.imageDigest)).layers();
    const image = await UnionFS.open(layers);
    const entries = await this.#entries(dir, config, undefined, image);
    const view = await Container.create([...layers, entries]);
    try {
      return await view.copyOut(containerPath, hostPath, options);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        throw new ContainerError('COPY_INVALID', `cannot copy ${config.name}:${containerPath} to ${hostPath}: ${(err as Error).message}`, { container: nameOrId, path: containerPath, reason: code }, { cause: err });
      }
      throw err;
    }
  }

  async #entries(dir: string, config: ContainerSpec, sourceDateEpoch: number | undefined, image?: UnionFS): Promise<Entry[]> {
    const caps = await this.#caps();
    const view = image ?? (await UnionFS.open(await (await this.store.getImage(config.imageDigest)).layers()));
    const ids = await sandboxIds(caps);
    return writableEntries(join(dir, 'u'), view, config, {
      rootless: caps.rootless,
      ...(sourceDateEpoch === undefined ? {} : { whiteoutMtime: sourceDateEpoch }),
      ...(ids?.map ? { ids: { map: ids.map, owners: join(dir, OWNERS_FILE) } } : {}),
    });
  }

  #needScript(caps: SandboxCapabilities): void {
    if (!caps.tools.script) throw new SandboxError('SANDBOX_UNAVAILABLE', 'a terminal (-t) needs script (Debian package bsdutils)', { reason: 'script not found' });
    if (!caps.devpts) throw new SandboxError('SANDBOX_UNAVAILABLE', 'a terminal (-t) needs a devpts instance of the container\'s own, which cannot be mounted here', { reason: 'devpts refused' });
  }

  async #caps(): Promise<SandboxCapabilities> {
    const caps = await probeSandbox();
    if (!caps.available) throw new SandboxError('SANDBOX_UNAVAILABLE', `containers cannot run here: ${caps.reason}`, { reason: caps.reason ?? 'unknown' });
    if (!caps.overlay) throw new SandboxError('SANDBOX_UNAVAILABLE', 'containers need overlayfs', { reason: 'overlay refused' });
    for (const tool of ['nsenter', 'script']) {
      if (caps.tools[tool]) continue;
      const found = await findProgram(tool);
      if (found) caps.tools[tool] = found;
    }
    if (!caps.tools.nsenter) throw new SandboxError('SANDBOX_UNAVAILABLE', 'containers need nsenter (Debian package util-linux)', { reason: 'nsenter not found' });
    return caps;
  }

  #runStep(config: ContainerSpec, argv: string[], env: string[]): RunStep {
    return {
      argv,
      // Docker's process environment: HOSTNAME first, then the container's (which may override it).
      env: mergeEnv([`HOSTNAME=${hostnameOf(config)}`], env),
      workdir: config.workdir,
      user: config.user,
      mounts: [],
      network: config.network === 'bridge' ? 'default' : config.network,
      security: 'sandbox',
      heredocs: [],
      instruction: `container ${config.name}`,
      location: { line: 0, column: 0 },
    };
  }

  async #step(config: ContainerSpec, layers: Layer[]): Promise<{ step: RunStep; ctx: RunContext }> {
    const mounts = await sandboxMounts(this.store.root, config.mounts ?? [], config.init ? await findInit() : undefined);
    const ctx: RunContext = {
      lowers: layers,
      rootfs: await UnionFS.open(layers),
      storeRoot: this.store.root,
      resolveMountSource: (mount) => mounts.resolve(mount),
      onOutput: () => {},
    };
    const argv = config.init ? [INIT_PATH, '--', ...config.argv] : config.argv;
    return { step: { ...this.#runStep(config, argv, config.env), mounts: mounts.mounts }, ctx };
  }
}
