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
}

// unshare exits 1 after printing this when its child died of SIGKILL (see process.ts): report 137.
const SCRIPT = [
  'd=$1; cg=$2; autorm=$3; shift 3',
  '"$@" 3>"$d/status" </dev/null; code=$?',
  'if [ "$code" = 1 ]; then case "$(tail -n 1 "$d/stderr.log")" in "unshare: sigprocmask unblock failed"*) code=137;; esac; fi',
  'date -u +%Y-%m-%dT%H:%M:%S.%3NZ > "$d/finished"; echo $code > "$d/exit"',
  'if [ -n "$cg" ]; then for i in 1 2 3 4 5 6 7 8 9 10; do rmdir "$cg" 2>/dev/null && break; sleep 0.1; done; fi',
  'if [ -n "$autorm" ]; then chmod -R u+rwx "$d" 2>/dev/null; rm -rf "$d"; fi',
].join('\n');

/** Starts the supervisor (it outlives this process) and records its pid in `state.json`. */
export async function startSupervisor(plan: SupervisorPlan): Promise<void> {
  const out = await open(join(plan.dir, 'stdout.log'), 'a');
  const err = await open(join(plan.dir, 'stderr.log'), 'a');
  try {
    const child = spawn(plan.sh, ['-c', SCRIPT, 'supervisor', plan.dir, plan.cgroup ?? '', plan.autoRemove ? '1' : '', ...plan.argv], {
      detached: true,
      stdio: ['ignore', out.fd, err.fd],
      cwd: '/',
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' },
    });
    child.unref();
    await writeJson(join(plan.dir, 'state.json'), { ...plan.run, supervisorPid: child.pid });
  } finally {
    await out.close();
    await err.close();
  }
}
