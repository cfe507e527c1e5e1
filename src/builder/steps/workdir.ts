/**
 * WORKDIR: sets the working directory and, as BuildKit does, creates it
 * (mode 0755, owned by the current USER) when it does not exist — a layer
 * only when something was created.
 * @module
 */
import type { WorkdirInstruction } from '../../dockerfile/instructions/types.js';
import { layerFromEntries } from '../../layers/from-entries.js';
import { cleanDest } from '../copy/copy.js';
import { CopyTarget } from '../copy/target.js';
import { BuildError, positionOf } from '../errors.js';
import { userError, type StageRun, type StepOutcome } from './context.js';
import { replayLayer, type Step } from './step.js';

/** The new working directory: absolute paths as they are, relative ones below the current one. */
export function workdirPath(current: string | undefined, path: string): string {
  if (path.startsWith('/')) return cleanDest(path);
  return cleanDest(`${current && current !== '' ? current : '/'}/${path}`);
}

/** WORKDIR: a layer when it creates the directory; a hit sets the directory and replays that layer. */
export const workdirStep: Step<WorkdirInstruction, undefined> = {
  readsFs: true,
  stacks: true,
  prepare: () => undefined,
  inputs: async () => [],
  keyAfterRun: () => false,
  independent: () => false,
  execute: (run, ins) => runWorkdir(run, ins),
  replay(run, ins, hit) {
    run.state.container.WorkingDir = workdirPath(run.state.container.WorkingDir, ins.path);
    return replayLayer(run, hit);
  },
};

/** Runs WORKDIR (already expanded). */
async function runWorkdir(run: StageRun, ins: WorkdirInstruction): Promise<StepOutcome> {
  const { state, session } = run;
  const wd = workdirPath(state.container.WorkingDir, ins.path);
  state.container.WorkingDir = wd;
  const createdBy = `WORKDIR ${wd}`;
  if (wd === '/') return { createdBy, layer: null };
  let owner = { uid: 0, gid: 0 };
  const user = state.container.User;
  if (user !== undefined && user !== '') {
    try {
      owner = await run.users.chownOwner(user);
    } catch (err) {
      throw userError(err, ins, run);
    }
  }
  const target = new CopyTarget(await state.stack());
  if (!target.mkdirAll(wd, { mode: 0o755, uid: owner.uid, gid: owner.gid, mtime: session.epoch ?? 0 })) {
    throw new BuildError('INVALID_INSTRUCTION', `mkdir ${wd}: not a directory`, { ...positionOf(ins, run.plan.label), path: wd });
  }
  const entries = target.entries();
  if (target.size === 0) return { createdBy, layer: null };
  const index = state.entriesIndex(entries);
  const staged = await session.spool.stage(layerFromEntries(entries, session.layerOptions()), session.options.signal, index);
  state.addLayer(staged, index);
  return { createdBy, layer: { digest: await staged.digest(), layer: staged, index } };
}
