/**
 * The supervisor of a detached container (podman's conmon, as a shell): a
 * detached host shell that starts the container's namespaces with its
 * output appended to the logs, waits for them, and records how they ended
 * (`exit`, `finished`), so that any later process can tell; then it removes
 * the container's cgroup, and the container itself for `--rm`.
 * @module
 */
import { spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { LOG_WRITER_SOURCE } from './logs.js';
import { writeJson, type ContainerRunState } from './state.js';

/** What {@link startSupervisor} needs. */
export interface SupervisorPlan {
  /** The container's directory. */
  dir: string;
  /** The host argv that starts the namespaces (setup script, final command). */
  argv: string[];
  /** What `state.json` records of this start (the supervisor's pid is added). */
  run: ContainerRunState;
  /** The host's `/bin/sh`. */
  sh: string;
  /** The container's cgroup, removed once it is empty. */
  cgroup: string | undefined;
  /** Remove the container's directory after it exits. */
  autoRemove: boolean;
  /** slirp4netns and its options (without the pid and the ready fd) for a user-mode network. */
  userNetwork?: string[] | undefined;
  /** The namespaces are in a user namespace (slirp4netns joins it). */
  rootless?: boolean;
}

/**
 * The supervisor's script. The namespace tools' stderr goes to `status` (the
 * setup's report), the command's to the log (fd 3 for the setup script).
 * The exit code is written after the log writer has read the output to its
 * end (`logs.done`, at most 2 s): `wait` and `ps` then see all of it in the
 * logs. With
 * a user-mode network it waits for the init's pid, starts slirp4netns (its
 * child, with a parent-death signal) and writes the go line into the step's
 * FIFO once it is ready (see `user-network.ts`).
 */
const SCRIPT = [
  'd=$1; cg=$2; autorm=$3; slirp=$4; usrns=$5; shift 5',
  'if [ -n "$slirp" ]; then',
  '  exec 6<>"$d/go"',
  '  "$@" 6>&- 3>&2 2>"$d/status" </dev/null & main=$!',
  '  pid=; while [ -z "$pid" ] && kill -0 $main 2>/dev/null; do sleep 0.02; read -r word pid rest < "$d/status" || true; [ "$word" = pid ] || pid=; done',
  '  net=',
  '  if [ -n "$pid" ]; then',
  '    rm -f "$d/slirp.ready"',
  '    (cd "$d" && exec setpriv --pdeathsig KILL -- $slirp ${usrns:+--userns-path=/proc/$pid/ns/user} --ready-fd=7 $pid tap0 7>slirp.ready 2>slirp.log) & net=$!',
  '    echo $net > "$d/slirp.pid"',
  '    while [ ! -s "$d/slirp.ready" ] && kill -0 $net 2>/dev/null; do sleep 0.02; done',
  '  fi',
  '  if [ -s "$d/slirp.ready" ]; then echo 1 >&6; else echo 0 >&6; fi',
  '  wait $main; code=$?',
  '  exec 6>&-',
  '  [ -z "$net" ] || kill -9 $net 2>/dev/null',
  'else',
  '  "$@" 3>&2 2>"$d/status" </dev/null; code=$?',
  'fi',
  'if [ "$code" = 1 ] && grep -q "unshare: sigprocmask unblock failed" "$d/status"; then code=137; fi',
  // The exit is recorded once the log writer has all of the output (as Docker waits for its log copier):
  // this shell lets go of the pipes, and the writer says when it has read them to their end.
  'exec >/dev/null 2>&1',
  'i=0; while [ ! -e "$d/logs.done" ] && [ $i -lt 100 ]; do sleep 0.02; i=$((i+1)); done',
  'date -u +%Y-%m-%dT%H:%M:%S.%3NZ > "$d/finished"; echo $code > "$d/exit"',
  'if [ -n "$cg" ]; then for i in 1 2 3 4 5 6 7 8 9 10; do rmdir "$cg" 2>/dev/null && break; sleep 0.1; done; fi',
  'if [ -n "$autorm" ]; then chmod -R u+rwx "$d" 2>/dev/null; rm -rf "$d"; fi',
].join('\n');

/**
 * Starts the supervisor (it outlives this process) under the log writer
 * (see `logs.ts`), and records the writer's pid in `state.json`: it is the
 * top of the container's process tree and exits last.
 */
export async function startSupervisor(plan: SupervisorPlan): Promise<void> {
  // Nothing of the container's output goes anywhere but the pipes; the writer's own trouble goes to a file.
  const err = await open(join(plan.dir, 'log-writer.err'), 'a');
  try {
    const supervisor = [plan.sh, '-c', SCRIPT, 'supervisor', plan.dir, plan.cgroup ?? '', plan.autoRemove ? '1' : '', (plan.userNetwork ?? []).join(' '), plan.rootless ? '1' : '', ...plan.argv];
    const child = spawn(process.execPath, ['-e', LOG_WRITER_SOURCE, '--', plan.dir, ...supervisor], {
      detached: true,
      stdio: ['ignore', 'ignore', err.fd],
      cwd: '/',
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' },
    });
    child.unref();
    await writeJson(join(plan.dir, 'state.json'), { ...plan.run, supervisorPid: child.pid });
  } finally {
    await err.close();
  }
}
