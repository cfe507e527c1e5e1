/**
 * FROM's side effects: the base image's ONBUILD triggers run first in the
 * new stage (BuildKit parses them only now, each as one instruction placed
 * at the FROM line), and are not carried into the new image.
 * @module
 */
import { DockerfileSyntaxError } from '../../dockerfile/errors.js';
import { parseInstruction } from '../../dockerfile/instructions/parse.js';
import type { Instruction } from '../../dockerfile/instructions/types.js';
import { parseDockerfile } from '../../dockerfile/syntax/parser.js';
import { BuildError, positionOf } from '../errors.js';
import type { StageRun } from './context.js';

/** Parses a stored trigger (`RUN make`, `COPY . /src`) into an instruction positioned at the stage's FROM. */
export function parseTrigger(run: StageRun, trigger: string): Instruction {
  const from = run.plan.stage.from;
  const fail = (message: string, cause?: unknown) =>
    new BuildError('INVALID_INSTRUCTION', `ONBUILD trigger ${JSON.stringify(trigger)}: ${message}`, positionOf(from, run.plan.label), cause ? { cause } : undefined);
  let instruction: Instruction;
  try {
    const ast = parseDockerfile(trigger);
    if (ast.children.length !== 1) throw fail('onbuild trigger should be a single expression');
    const node = ast.children[0]!;
    instruction = parseInstruction({ ...node, range: from.range, startLine: from.startLine, endLine: from.endLine });
  } catch (err) {
    if (err instanceof DockerfileSyntaxError) throw fail(err.message, err);
    throw err;
  }
  if (instruction.kind === 'from' || instruction.kind === 'onbuild' || instruction.kind === 'maintainer') {
    throw fail(`${instruction.keyword} isn't allowed as an ONBUILD trigger`);
  }
  return instruction;
}

/** Runs the triggers in order before the stage's own instructions. */
export async function runOnbuildTriggers(
  run: StageRun,
  triggers: readonly string[],
  runOne: (instruction: Instruction, index: number) => Promise<void>,
): Promise<void> {
  let index = 0;
  for (const trigger of triggers) await runOne(parseTrigger(run, trigger), --index);
}
