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
export * from './syntax/index.js';
export { dumpAst, dumpNode } from './dump.js';
export { printDockerfile, printInstruction } from './print.js';
export { DockerfileSyntaxError, formatAtPosition, type DockerfileSyntaxErrorData, type SourceLocation } from './errors.js';
export { suggest, type SuggestOptions } from './suggest.js';
export * from './shell/index.js';
export * from './instructions/index.js';
