/**
 * Typed Dockerfile instructions: each syntax node read into what it means
 * (flags, arguments, heredocs), grouped into stages, and expanded against
 * the variables in scope — BuildKit's `instructions` package.
 *
 * @example
 * ```ts
 * import { parseDockerfile, parseInstructions } from 'layerkit';
 * const { stages } = parseInstructions(parseDockerfile('FROM alpine\nCOPY --link . /src'));
 * const copy = stages[0].instructions[0];
 * if (copy.kind === 'copy') console.log(copy.link, copy.sources, copy.dest); // true ['.'] '/src'
 * ```
 * @module
 */
export { parseInstruction, parseInstructions, type ParsedDockerfile } from './parse.js';
export { expandInstruction, type ExpandOptions } from './expand.js';
export type { ParseInstructionOptions } from './context.js';
export type {
  AddInstruction,
  ArgDefinition,
  ArgInstruction,
  CmdInstruction,
  CommandLine,
  CopyInstruction,
  CopyLikeFields,
  Device,
  EntrypointInstruction,
  EnvInstruction,
  ExposeInstruction,
  FromInstruction,
  HealthcheckInstruction,
  InlineFile,
  Instruction,
  InstructionBase,
  InstructionKind,
  KeyValue,
  LabelInstruction,
  MaintainerInstruction,
  Mount,
  MountSharing,
  MountType,
  OnbuildInstruction,
  RunInstruction,
  ShellInstruction,
  SourceContent,
  Stage,
  StopsignalInstruction,
  UserInstruction,
  VolumeInstruction,
  WorkdirInstruction,
} from './types.js';
