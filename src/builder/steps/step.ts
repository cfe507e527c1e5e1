/**
 * The contract of one instruction kind: what the build cache keys it on,
 * how it runs, and how a cache hit replays it. The builder drives every
 * step through this shape (`STEPS` in `table.ts`); the cache keeps keys and
 * records and knows no step's rules.
 * @module
 */
import type { Instruction } from '../../dockerfile/instructions/types.js';
import type { CachedStep, InputEnv } from '../cache/inputs.js';
import type { StatCache } from '../../context/stat-cache.js';
import type { StepRef } from '../events.js';
import type { StageRun, StepOutcome } from '../session-types.js';

/** What the builder passes to {@link Step.execute}. */
export interface ExecuteContext {
  /** The step as announced in events (RUN output names it). */
  ref: StepRef;
  /**
   * The cache reads the step's key inputs after it ran: a step may take them
   * from its own reads (a COPY hashes context files as it copies them).
   */
  keyAfterRun: boolean;
  /** The stat index of build contexts (a step hashing what it reads teaches it). */
  statCache: StatCache;
}

/**
 * One instruction kind. `P` is what {@link Step.prepare} reads once and
 * hands to both the key ({@link Step.inputs}) and the run ({@link Step.execute}).
 */
export interface Step<I extends Instruction = Instruction, P = unknown> {
  /**
   * Refusals that hold whether or not the cache has the step (entitlements):
   * checked before the lookup, so a cached step does not slip through.
   */
  check?(run: StageRun, ins: I): void;
  /** What the key and the run share, read once per step (lazily: a hit may need little of it). */
  prepare(run: StageRun, ins: I): P;
  /**
   * Key inputs besides the instruction, the variables, the platform and the
   * parent key, in a fixed order. Throwing makes the step (and the rest of
   * its stage) uncached; the run then reports why.
   */
  inputs(run: StageRun, ins: I, prepared: P, env: InputEnv): Promise<unknown[]>;
  /** The key may be read after the run (see {@link ExecuteContext.keyAfterRun}) with no second read of the sources. */
  keyAfterRun(ins: I): boolean;
  /** The step builds its layer on an empty tree (`COPY --link`): its key does not chain on the file system below. */
  independent(ins: I): boolean;
  /** The step may look at the file system below it (its base layers' saved indexes are loaded first). */
  readonly readsFs: boolean;
  /** The step stacks the whole file system below it (base layers are indexed after it). */
  readonly stacks: boolean;
  /** Runs the step on a miss (instruction already expanded). */
  execute(run: StageRun, ins: I, prepared: P, ctx: ExecuteContext): Promise<StepOutcome>;
  /** Makes a cache hit's effect on the stage: its layer (already loaded by the cache) and config changes. */
  replay(run: StageRun, ins: I, hit: CachedStep): StepOutcome;
}

/** The replay of a step whose only effect is its layer (COPY, ADD, RUN). */
export function replayLayer(run: StageRun, hit: CachedStep): StepOutcome {
  if (!hit.layer) return { createdBy: hit.createdBy, layer: null };
  run.state.addLayer(hit.layer.layer, hit.layer.index);
  return { createdBy: hit.createdBy, layer: { digest: hit.layer.digest } };
}
