/**
 * `layerkit parse`, run in-process through `main` and once as a real process.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/io.js';

const repo = join(import.meta.dirname, '../..');
const corpus = join(repo, 'test/fixtures/buildkit/parser/testfiles');
const dir = mkdtempSync(join(tmpdir(), 'layerkit-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function run(argv: string[], stdin = ''): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    readText: async (path) => (path === '-' ? stdin : readFileSync(path, 'utf8')),
  };
  const status = await main(argv, io);
  return { status, stdout, stderr };
}

describe('layerkit parse', () => {
  it('prints BuildKit\'s result for corpus files, byte for byte', async () => {
    for (const name of ['docker', 'env', 'escape-after-comment']) {
      const out = await run(['parse', join(corpus, name, 'Dockerfile')]);
      expect(out.status).toBe(0);
      expect(out.stdout).toBe(readFileSync(join(corpus, name, 'result'), 'utf8'));
    }
  });

  it('accepts --format buildkit as two words and - for standard input', async () => {
    const out = await run(['parse', '--format', 'buildkit', '-'], 'FROM a\nRUN b');
    expect(out).toEqual({ status: 0, stdout: '(from "a")\n(run "b")\n', stderr: '' });
  });

  it('reports an unknown instruction of --format=json or --strict as FILE:LINE:COL, source line and caret, with status 1', async () => {
    const path = file('bad', 'FROM a\n  FORM b\n');
    for (const argv of [['parse', '--format=json', path], ['parse', '--strict', path], ['parse', '--no-strict=false', '--format=tree', path]]) {
      const out = await run(argv);
      expect(out.status, argv.join(' ')).toBe(1);
      expect(out.stdout).toBe('');
      expect(out.stderr).toBe(`${path}:2:3: unknown instruction: FORM (did you mean FROM?)\n  FORM b\n  ^\n`);
    }
  });

  it('keeps unknown instructions in the dumps, as BuildKit\'s parser does', async () => {
    expect(await run(['parse', '-'], 'FORM b')).toMatchObject({ status: 0, stdout: '(form "")\n' });
    expect(await run(['parse', '--no-strict', '-'], 'FORM b')).toMatchObject({ status: 0, stdout: '(form "")\n' });
    const tree = await run(['parse', '--format=tree', '-'], 'FROM a\n{{ template }}\n');
    expect(tree.status).toBe(0);
    expect(JSON.parse(tree.stdout).instructions[1]).toMatchObject({ keyword: '{{', rawKeyword: '{{', args: [''] });
  });

  it('prints warnings on standard error', async () => {
    const out = await run(['parse', '-'], 'RUN a \\\n\n b');
    expect(out.stdout).toBe('(run "a  b")\n');
    expect(out.stderr).toBe('-:3: warning: Empty continuation line found in: RUN a  b\n');
  });

  it('--format=json prints typed instructions by stage with positions', async () => {
    const out = await run(['parse', '--format=json', '-'], 'ARG V=1\nFROM alpine:$V AS base\nRUN <<EOF\necho hi\nEOF\n');
    expect(out.status).toBe(0);
    const doc = JSON.parse(out.stdout);
    expect(doc).toMatchObject({ version: 1, format: 'instructions', file: '-', escapeToken: '\\', directives: [] });
    expect(doc.metaArgs[0]).toMatchObject({ kind: 'arg', range: { start: { line: 1, column: 1 } } });
    expect(doc.stages).toHaveLength(1);
    expect(doc.stages[0].from).toMatchObject({ kind: 'from', image: 'alpine:$V', stageName: 'base' });
    expect(doc.stages[0].instructions[0]).toMatchObject({
      kind: 'run',
      startLine: 3,
      endLine: 5,
      range: { start: { line: 3, column: 1 }, end: { line: 5, column: 3 } },
      heredocs: [{ name: 'EOF', content: 'echo hi\n' }],
    });
  });

  it('--format=tree prints the syntax tree', async () => {
    const out = await run(['parse', '--format=tree', '-'], '# escape=`\nONBUILD COPY --from=a x y');
    const doc = JSON.parse(out.stdout);
    expect(doc).toMatchObject({ version: 1, format: 'tree', escapeToken: '`' });
    expect(doc.directives).toEqual([{ name: 'escape', value: '`', line: 1 }]);
    expect(doc.instructions[0]).toMatchObject({
      keyword: 'onbuild',
      args: [],
      child: { keyword: 'copy', flags: ['--from=a'], args: ['x', 'y'], child: null },
      range: { start: { line: 2, column: 1 } },
    });
  });

  it('typed-instruction errors in --format=json also exit 1', async () => {
    const out = await run(['parse', '--format=json', '-'], 'FROM a\nCOPY --form=x a b');
    expect(out.status).toBe(1);
    expect(out.stderr).toMatch(/^<stdin>:2:\d+: unknown flag: --?form.*\nCOPY --form=x a b\n *\^\n$/);
  });

  it('usage errors exit 2', async () => {
    for (const argv of [['parse'], ['parse', 'a', 'b'], ['parse', '--format=xml', 'f'], ['parse', '--bogus', 'f'], ['frobnicate'], []]) {
      const out = await run(argv);
      expect(out.status, argv.join(' ')).toBe(2);
      expect(out.stderr).not.toBe('');
    }
    expect((await run(['parse', join(dir, 'missing')])).status).toBe(2);
  });

  it('--help and --version', async () => {
    const help = await run(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('parse');
    expect((await run(['parse', '--help'])).stdout).toContain('--format=buildkit');
    const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string };
    expect(await run(['--version'])).toEqual({ status: 0, stdout: `layerkit ${pkg.version}\n`, stderr: '' });
  });
});

describe('the layerkit executable', () => {
  const exec = promisify(execFile);
  const cli = (args: string[]) =>
    exec(process.execPath, ['--import', 'tsx', join(repo, 'src/cli/main.ts'), ...args], { cwd: repo }).then(
      (r) => ({ status: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => ({ status: e.code, stdout: e.stdout, stderr: e.stderr }),
    );

  it('runs from source, exiting with the status main returns', async () => {
    const ok = await cli(['parse', join(corpus, 'json', 'Dockerfile')]);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toBe(readFileSync(join(corpus, 'json', 'result'), 'utf8'));
    const bad = await cli(['parse', file('bad2', 'FROM a\nCMD ["a", 1]\n')]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain(':2:5: when using JSON array syntax, arrays must be comprised of strings only');
  });

  it('starts with a node shebang', () => {
    expect(readFileSync(join(repo, 'src/cli/main.ts'), 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });
});
