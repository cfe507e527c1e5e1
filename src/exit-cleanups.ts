/**
 * Cleanups that run when the process exits: one `exit` listener for all of
 * them, shared by every module that leaves files only the process may
 * remove (scratch directories, spill files, sandbox step directories).
 * @module
 */
const exitCleanups = new Set<{ run: () => void }>();
let exitListening = false;

function runExitCleanups(): void {
  for (const cleanup of exitCleanups) {
    try {
      cleanup.run();
    } catch {
      // The process is ending: what cannot be removed now is swept by the next command.
    }
  }
  exitCleanups.clear();
}

/**
 * Runs `cleanup` synchronously when the process exits, unless the returned
 * function cancels it first. Every cleanup shares one `exit` listener of the
 * process, however many scratch directories, spools or registrations come
 * and go (one listener each would pass Node's limit of ten and warn).
 *
 * A process killed with `SIGKILL` runs none of them: what it leaves is owned
 * by its pid and start time, and the next command sweeps it.
 *
 * @example
 * ```ts
 * const dir = await mkdtemp(join(root, 'export-'));
 * const cancel = atExit(() => rmSync(dir, { recursive: true, force: true }));
 * try { await work(dir); } finally { cancel(); await rm(dir, { recursive: true, force: true }); }
 * ```
 */
export function atExit(cleanup: () => void): () => void {
  const entry = { run: cleanup };
  exitCleanups.add(entry);
  if (!exitListening) {
    exitListening = true;
    process.on('exit', runExitCleanups);
  }
  return () => {
    exitCleanups.delete(entry);
  };
}
