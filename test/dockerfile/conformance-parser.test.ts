/**
 * BuildKit's own parser corpus (test/fixtures/buildkit/parser): every
 * positive case dumps to its `result` byte for byte, every negative case
 * fails with a located DockerfileSyntaxError.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DockerfileSyntaxError, dumpAst, parseDockerfile } from '../../src/dockerfile/index.js';

const root = join(import.meta.dirname, '../fixtures/buildkit/parser');
const positive = join(root, 'testfiles');
const negative = join(root, 'testfiles-negative');

const positiveCases = readdirSync(positive).filter((name) => existsSync(join(positive, name, 'result')));
const negativeCases = readdirSync(negative);

/** Where BuildKit locates each negative case (its LocationError's first line). */
const negativeLines: Record<string, { line: number; message: string }> = {
  empty_dockerfile: { line: 1, message: 'file with no instructions' },
  only_comments: { line: 3, message: 'file with no instructions' },
  env_no_value: { line: 3, message: 'ENV must have two arguments' },
  'shykes-nested-json': { line: 1, message: 'when using JSON array syntax, arrays must be comprised of strings only' },
};

describe('BuildKit parser corpus', () => {
  it('has the cases the README announces', () => {
    expect(positiveCases).toHaveLength(33);
    expect(negativeCases).toHaveLength(4);
  });

  it.each(positiveCases)('testfiles/%s dumps to its result', (name) => {
    const text = readFileSync(join(positive, name, 'Dockerfile'), 'utf8');
    const expected = readFileSync(join(positive, name, 'result'), 'utf8');
    expect(dumpAst(parseDockerfile(text)) + '\n').toBe(expected);
  });

  it.each(negativeCases)('testfiles-negative/%s is rejected', (name) => {
    const text = readFileSync(join(negative, name, 'Dockerfile'), 'utf8');
    let error: unknown;
    try {
      parseDockerfile(text);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(DockerfileSyntaxError);
    const syntax = error as DockerfileSyntaxError;
    expect(syntax.code).toBe('DOCKERFILE_SYNTAX');
    expect(negativeLines[name], `expectation for ${name}`).toBeDefined();
    expect(syntax.line).toBe(negativeLines[name]!.line);
    expect(syntax.message).toBe(negativeLines[name]!.message);
  });

  it('testfile-line: instructions span [5,5], [11,12], [17,31]', () => {
    const text = readFileSync(join(root, 'testfile-line', 'Dockerfile'), 'utf8');
    const ast = parseDockerfile(text);
    expect(ast.children.map((c) => [c.startLine, c.endLine])).toEqual([
      [5, 5],
      [11, 12],
      [17, 31],
    ]);
  });
});
