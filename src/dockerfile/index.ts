/**
 * Dockerfiles: text → syntax tree (BuildKit's parser, with columns), its
 * BuildKit dump, a printer, and the errors they report.
 *
 * @example
 * ```ts
 * import { parseDockerfile, dumpAst } from 'layerkit';
 * dumpAst(parseDockerfile('FROM alpine\nRUN echo hi')); // '(from "alpine")\n(run "echo hi")'
 * ```
 * @module
 */
export {
  INSTRUCTION_KEYWORDS,
  parseDockerfile,
  parseHeredocWord,
  positionInSegments,
  type Directive,
  type DockerfileAst,
  type Heredoc,
  type HeredocStart,
  type InstructionNode,
  type ParseOptions,
  type ParseWarning,
  type Position,
  type Range,
  type SourceSegment,
} from './syntax/index.js';
export { dumpAst, dumpNode } from './dump.js';
export { printDockerfile, printInstruction } from './print.js';
export { DockerfileSyntaxError, type DockerfileSyntaxErrorData, type SourceLocation } from './errors.js';
export { formatAtPosition } from '../errors.js';
export { suggest, type SuggestOptions } from './suggest.js';
export {
  envFromList,
  ShellExpansionError,
  ShellLex,
  type EnvLookup,
  type ShellEnv,
  type ShellExpansionErrorData,
  type ShellExpansionReason,
  type ShellLexOptions,
  type WordExpansion,
} from './shell/index.js';
// Typed instructions, grouped into stages and expanded against the variables in scope.
export { parseInstruction, parseInstructions, type ParsedDockerfile } from './instructions/parse.js';
export { expandInstruction, type ExpandOptions } from './instructions/expand.js';
export type { ParseInstructionOptions } from './instructions/context.js';
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
} from './instructions/types.js';
export { goQuote } from './syntax/go-quote.js';
export { ramInBytes } from './instructions/go-values.js';
