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
export {
  expandInstruction,
  parseInstruction,
  parseInstructions,
  type AddInstruction,
  type ArgDefinition,
  type ArgInstruction,
  type CmdInstruction,
  type CommandLine,
  type CopyInstruction,
  type CopyLikeFields,
  type Device,
  type EntrypointInstruction,
  type EnvInstruction,
  type ExpandOptions,
  type ExposeInstruction,
  type FromInstruction,
  type HealthcheckInstruction,
  type InlineFile,
  type Instruction,
  type InstructionBase,
  type InstructionKind,
  type KeyValue,
  type LabelInstruction,
  type MaintainerInstruction,
  type Mount,
  type MountSharing,
  type MountType,
  type OnbuildInstruction,
  type ParsedDockerfile,
  type ParseInstructionOptions,
  type RunInstruction,
  type ShellInstruction,
  type SourceContent,
  type Stage,
  type StopsignalInstruction,
  type UserInstruction,
  type VolumeInstruction,
  type WorkdirInstruction,
} from './instructions/index.js';
export { goQuote } from './syntax/go-quote.js';
export { ramInBytes } from './instructions/go-values.js';
