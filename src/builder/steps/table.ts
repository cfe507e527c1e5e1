/**
 * The steps by instruction kind, as the parser's `PARSERS` are: the builder
 * looks an instruction's kind up here and drives the step through the
 * {@link Step} contract. FROM is no step: it starts a stage.
 * @module
 */
import type { Instruction } from '../../dockerfile/instructions/types.js';
import { copyStep } from './copy-add.js';
import { metadataStep } from './metadata.js';
import { runStep } from './run.js';
import type { Step } from './step.js';
import { workdirStep } from './workdir.js';

/** Every instruction kind but FROM. */
export type StepKind = Exclude<Instruction['kind'], 'from'>;

/** The step of each kind (typed loosely here: each entry takes its own kind's instruction). */
export const STEPS: { readonly [K in StepKind]: Step<Extract<Instruction, { kind: K }>, any> } = {
  copy: copyStep,
  add: copyStep,
  run: runStep,
  workdir: workdirStep,
  env: metadataStep,
  label: metadataStep,
  user: metadataStep,
  expose: metadataStep,
  volume: metadataStep,
  cmd: metadataStep,
  entrypoint: metadataStep,
  shell: metadataStep,
  stopsignal: metadataStep,
  healthcheck: metadataStep,
  onbuild: metadataStep,
  arg: metadataStep,
  maintainer: metadataStep,
};

/** The step of an instruction, or undefined for FROM. */
export function stepOf(kind: Instruction['kind']): Step<Instruction, unknown> | undefined {
  return kind === 'from' ? undefined : (STEPS[kind] as Step<Instruction, unknown>);
}
