/**
 * The stage graph: what each stage's FROM refers to, which stages a stage
 * reads from (`FROM stage`, `COPY --from`, `RUN --mount from=`), cycles,
 * and which stages a target needs — BuildKit's `dispatchStates`.
 * @module
 */
import type { Instruction, Stage } from '../dockerfile/instructions/types.js';
import { suggest } from '../dockerfile/suggest.js';
import { BuildError, positionOf } from './errors.js';

/** What a FROM, `--from` or `from=` names. */
export type SourceRef =
  | { kind: 'scratch' }
  | { kind: 'stage'; index: number }
  | { kind: 'context'; name: string }
  | { kind: 'image'; ref: string };

/** One stage with its FROM resolved and its dependencies. */
export interface StagePlan {
  stage: Stage;
  index: number;
  /** The name events and errors use: the `AS` name, else `stage-N` (BuildKit's naming). */
  label: string;
  /** The FROM's image or stage, expanded against the global scope. */
  baseName: string;
  base: SourceRef;
  /** `--platform` of the FROM, expanded. */
  platform?: string;
  /** A named build context that replaces the whole stage (`buildContexts: { <stage name>: … }`). */
  replacedBy?: string;
  /** Stages this one reads from, by index. */
  deps: Set<number>;
}

/** The input of {@link planStages}. */
export interface PlanStagesInput {
  stages: readonly Stage[];
  /** Expands a FROM word against the global scope. */
  expandMeta: (word: string, stage: Stage) => string;
  /** Names of the named build contexts. */
  contextNames: ReadonlySet<string>;
  target?: string;
}

/** The stage graph and what the target needs, in build order. */
export interface StageGraph {
  plans: StagePlan[];
  target: number;
  /** Stages the target depends on (itself included), in Dockerfile order. */
  order: number[];
}

/** Finds a stage by name (case-insensitive, as BuildKit stores names lowercased). */
export function stageByName(stages: readonly Stage[], name: string): Stage | undefined {
  const wanted = name.toLowerCase();
  return stages.find((s) => s.name === wanted);
}

/**
 * What a `COPY --from` / `RUN --mount from=` value names: a stage index
 * (digits), a stage name, a named context, else an image reference.
 *
 * @throws {@link BuildError} `UNKNOWN_STAGE` for an index past the last stage.
 */
export function resolveFromRef(
  value: string,
  stages: readonly Stage[],
  contextNames: ReadonlySet<string>,
  instruction?: Instruction,
  stageLabel?: string,
): SourceRef {
  if (/^[0-9]+$/.test(value)) {
    const index = Number(value);
    if (index >= stages.length) {
      throw new BuildError('UNKNOWN_STAGE', `invalid stage index ${value}`, {
        ...(instruction ? positionOf(instruction, stageLabel) : {}),
        reference: value,
      });
    }
    return { kind: 'stage', index };
  }
  const stage = stageByName(stages, value);
  if (stage) return { kind: 'stage', index: stage.index };
  if (contextNames.has(value)) return { kind: 'context', name: value };
  if (value === 'scratch') return { kind: 'scratch' };
  return { kind: 'image', ref: value };
}

function referencesOf(instruction: Instruction): string[] {
  if (instruction.kind === 'copy' && instruction.from !== undefined) return [instruction.from];
  if (instruction.kind === 'run') return instruction.mounts.flatMap((m) => (m.from !== undefined && m.from !== '' ? [m.from] : []));
  if (instruction.kind === 'onbuild') return [];
  return [];
}

/**
 * Builds the stage graph.
 *
 * @throws {@link BuildError} `NO_STAGES`, `UNKNOWN_TARGET`, `UNKNOWN_STAGE`,
 * `STAGE_CYCLE`, `INVALID_INSTRUCTION` (a FROM that expands to nothing).
 */
export function planStages(input: PlanStagesInput): StageGraph {
  const { stages, contextNames } = input;
  if (stages.length === 0) throw new BuildError('NO_STAGES', 'the Dockerfile has no FROM: nothing to build');
  const plans: StagePlan[] = [];
  for (const stage of stages) {
    const label = stage.name ?? (stages.length === 1 ? 'stage-0' : `stage-${stage.index}`);
    const baseName = input.expandMeta(stage.baseImage, stage);
    if (baseName === '') {
      throw new BuildError('INVALID_INSTRUCTION', `base name (${stage.baseImage}) should not be blank`, positionOf(stage.from, label));
    }
    // A stage name refers to an earlier stage only; otherwise it is a context or an image.
    const earlier = stages.slice(0, stage.index).find((s) => s.name !== undefined && s.name === baseName);
    let base: SourceRef;
    if (earlier) base = { kind: 'stage', index: earlier.index };
    else if (contextNames.has(baseName)) base = { kind: 'context', name: baseName };
    else if (baseName === 'scratch') base = { kind: 'scratch' };
    else base = { kind: 'image', ref: baseName };
    const plan: StagePlan = { stage, index: stage.index, label, baseName, base, deps: new Set() };
    if (stage.platform !== undefined) {
      const platform = input.expandMeta(stage.platform, stage);
      if (platform === '') {
        throw new BuildError('INVALID_INSTRUCTION', `empty platform value from expression ${stage.platform}`, positionOf(stage.from, label));
      }
      plan.platform = platform;
    }
    if (stage.name !== undefined && contextNames.has(stage.name)) plan.replacedBy = stage.name;
    if (base.kind === 'stage') plan.deps.add(base.index);
    plans.push(plan);
  }
  for (const plan of plans) {
    if (plan.replacedBy !== undefined) {
      plan.deps.clear();
      continue;
    }
    for (const instruction of plan.stage.instructions) {
      for (const ref of referencesOf(instruction)) {
        const resolved = resolveFromRef(ref, stages, contextNames, instruction, plan.label);
        if (resolved.kind === 'stage') plan.deps.add(resolved.index);
      }
    }
  }
  checkCycles(plans);

  let target = plans.length - 1;
  if (input.target !== undefined && input.target !== '') {
    const found = stageByName(stages, input.target);
    if (!found) {
      const names = stages.flatMap((s) => (s.name === undefined ? [] : [s.name]));
      const hint = suggest(input.target, names);
      throw new BuildError(
        'UNKNOWN_TARGET',
        `target stage "${input.target}" could not be found${hint === undefined ? '' : ` (did you mean ${hint}?)`}`,
        { reference: input.target, candidates: names },
      );
    }
    target = found.index;
  }
  const needed = new Set<number>();
  const visit = (index: number): void => {
    if (needed.has(index)) return;
    needed.add(index);
    for (const dep of plans[index]!.deps) visit(dep);
  };
  visit(target);
  return { plans, target, order: [...needed].sort((a, b) => a - b) };
}

/** BuildKit's `validateCircularDependency`: a depth-first search over the dependency edges. */
function checkCycles(plans: readonly StagePlan[]): void {
  const state = new Map<number, 'visiting' | 'done'>();
  const path: number[] = [];
  const visit = (index: number): void => {
    const seen = state.get(index);
    if (seen === 'done') return;
    if (seen === 'visiting') {
      const cycle = path.slice(path.indexOf(index)).concat(index).map((i) => plans[i]!.label);
      const plan = plans[index]!;
      throw new BuildError('STAGE_CYCLE', `circular dependency detected on stage: ${plan.label} (${cycle.join(' → ')})`, {
        ...positionOf(plan.stage.from, plan.label),
        cycle,
      });
    }
    state.set(index, 'visiting');
    path.push(index);
    for (const dep of plans[index]!.deps) visit(dep);
    path.pop();
    state.set(index, 'done');
  };
  for (const plan of plans) visit(plan.index);
}
