/**
 * The raw syntax tree of a Dockerfile, as BuildKit's parser builds it.
 * @module
 */
export type {
  DockerfileAst,
  Directive,
  Heredoc,
  InstructionNode,
  ParseWarning,
  Position,
  Range,
  SourceSegment,
} from './node.js';
export { parseDockerfile, positionInSegments, type ParseOptions } from './parser.js';
export { INSTRUCTION_KEYWORDS } from './keywords.js';
export { parseHeredocWord, type HeredocStart } from './heredoc-words.js';
