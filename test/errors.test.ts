import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { accepts, formatAtPosition, LayerkitError } from '../src/errors.js';
import { parseDigest } from '../src/digest.js';
import { BuildError, RunFailedError } from '../src/builder/errors.js';
import { CacheError } from '../src/builder/cache/errors.js';
import { DockerfileSyntaxError } from '../src/dockerfile/errors.js';
import { RegistryError } from '../src/registry/errors.js';

describe('LayerkitError', () => {
  it('a subclass that only narrows code and data takes data optionally, keeps its name, code and cause', () => {
    const cause = new Error('underneath');
    const err = new CacheError('CACHE_INVALID_SPEC', 'bad spec', undefined, { cause });
    expect(err).toBeInstanceOf(LayerkitError);
    expect(err.name).toBe('CacheError');
    expect(err.data).toEqual({});
    expect(err.cause).toBe(cause);
    expect(new RegistryError('TIMEOUT', 'slow', { registry: 'localhost:5000' }).toJSON()).toEqual({
      name: 'RegistryError',
      code: 'TIMEOUT',
      message: 'slow',
      data: { registry: 'localhost:5000' },
    });
  });

  it('formats a position as FILE:LINE:COL, the column 1 when only the line is known, the bare message without one', () => {
    expect(new BuildError('NO_STAGES', 'no stages').format()).toBe('no stages');
    expect(new BuildError('UNKNOWN_USER', 'unknown user', { line: 3 }).format('Containerfile')).toBe('Containerfile:3:1: unknown user');
    expect(new BuildError('UNKNOWN_USER', 'unknown user', { line: 3, column: 5 }).format()).toBe('Dockerfile:3:5: unknown user');
  });

  it('draws the source line and a caret when the data has one, and a failed RUN adds its output', () => {
    const syntax = new DockerfileSyntaxError('unknown flag', { line: 2, column: 5, sourceLine: 'RUN --nope x' });
    expect(syntax.format('Dockerfile')).toBe('Dockerfile:2:5: unknown flag\nRUN --nope x\n    ^');
    const run = new RunFailedError({ command: ['false'], exitCode: 1, outputTail: 'oops\n', line: 4, column: 1, instruction: 'RUN false' });
    expect(run.format()).toBe('Dockerfile:4:1: process ["false"] did not complete successfully: exit code: 1\noops');
  });

  it('format is formatAtPosition of the data, for any position', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 1, max: 500 }), fc.string(), fc.string(), (line, column, message, sourceLine) => {
        const err = new DockerfileSyntaxError(message, { line, column, sourceLine });
        const text = err.format('F');
        expect(text).toBe(formatAtPosition('F', line, column, message, sourceLine));
        expect(text.startsWith(`F:${line}:${column}: ${message}\n`)).toBe(true);
        expect(text.endsWith(`${' '.repeat(column - 1)}^`)).toBe(true);
      }),
    );
  });

  it('accepts is false for input a parser refuses with a typed error, and lets any other error through', () => {
    expect(accepts(parseDigest, 'sha256:xyz')).toBe(false);
    expect(accepts(parseDigest, `sha256:${'a'.repeat(64)}`)).toBe(true);
    expect(() => accepts(() => { throw new TypeError('a bug'); }, 'x')).toThrow(TypeError);
  });
});
