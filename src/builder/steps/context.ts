/**
 * What a step function gets: the session, the stage's plan and state, and
 * per-stage bookkeeping.
 * @module
 */
import type { Instruction } from '../../dockerfile/instructions/types.js';
import type { BuildSession, StageRun } from '../session-types.js';
import { BuildError, positionOf } from '../errors.js';
import type { StageState } from '../stage-state.js';
import type { StagePlan } from '../stages.js';
import { UnknownNameError, UserDb } from '../users.js';

export type { StageRun, StepOutcome } from '../session-types.js';

/** A StageRun for a state. */
export function stageRun(session: BuildSession, plan: StagePlan, state: StageState): StageRun {
  // Users are read again once the stage has a new top layer (a RUN may have added one).
  return { session, plan, state, users: new UserDb(() => state.view(), () => state.layers.at(-1)), cmdSet: false };
}

/** Turns an unknown user/group into a positioned `UNKNOWN_USER` error. */
export function userError(err: unknown, instruction: Instruction, run: StageRun): unknown {
  if (err instanceof UnknownNameError) {
    return new BuildError('UNKNOWN_USER', err.message, { ...positionOf(instruction, run.plan.label), reference: err.value });
  }
  return err;
}
