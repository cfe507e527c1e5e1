/**
 * Errors for malformed Dockerfiles.
 * @module
 */
import { LayerkitError } from '../errors.js';

/** Where a problem is: 1-based line and column, and the text of that line. */
export interface SourceLocation {
  /** 1-based line number. */
  line: number;
  /** 1-based column (in UTF-16 code units of the line), 1 when only the line is known. */
  column: number;
  /** The source line, without its line break, for drawing a caret. */
  sourceLine: string;
}

/** Data carried by {@link DockerfileSyntaxError}. */
export interface DockerfileSyntaxErrorData extends SourceLocation {
  /** Closest valid keyword or flag, when the problem is an unknown one. */
  suggestion?: string;
  /** The last line of the offending instruction, when it spans several. */
  endLine?: number;
}

/**
 * Every malformed Dockerfile (syntax, unknown instruction or flag, bad flag
 * value, wrong argument count) is reported with this error and its position.
 *
 * @example
 * ```ts
 * try {
 *   parseDockerfile('FORM alpine');
 * } catch (err) {
 *   if (err instanceof DockerfileSyntaxError) {
 *     console.error(err.format('Dockerfile'));
 *     // Dockerfile:1:1: unknown instruction: FORM (did you mean FROM?)
 *     // FORM alpine
 *     // ^
 *   }
 * }
 * ```
 */
export class DockerfileSyntaxError extends LayerkitError<'DOCKERFILE_SYNTAX', DockerfileSyntaxErrorData> {
  /** 1-based line of the problem. */
  get line(): number {
    return this.data.line;
  }
  /** 1-based column of the problem. */
  get column(): number {
    return this.data.column;
  }
  /** The offending source line. */
  get sourceLine(): string {
    return this.data.sourceLine;
  }

  constructor(message: string, data: DockerfileSyntaxErrorData, options?: { cause?: unknown }) {
    super('DOCKERFILE_SYNTAX', message, data, options);
  }
}

