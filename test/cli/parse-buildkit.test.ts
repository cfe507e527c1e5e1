/**
 * `layerkit parse --format=buildkit` prints what BuildKit's parser prints,
 * unknown instructions (template placeholders, typos) included; the typed
 * instructions (`--format=json`) and a build reject them with a did-you-mean.
 * Checked against BuildKit itself (bkoracle, see ../dockerfile/oracle.ts):
 * every corpus file and generated Dockerfiles with unknown instructions in
 * process, a few through the real program.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/io.js';
import { dockerfileArbitrary } from '../../src/testing/dockerfile.js';
import { openOracle, type ParseAnswer } from '../dockerfile/oracle.js';

const repo = join(import.meta.dirname, '../..');
const tsx = join(repo, 'node_modules/tsx/dist/esm/index.mjs');
const corpus = join(repo, 'test/fixtures/buildkit/parser');
const dir = mkdtempSync(join(tmpdir(), 'layerkit-parse-bk-'));
const oracle = openOracle();
afterAll(() => {
  oracle?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function parseInProcess(argv: string[], stdin: string): Promise<{ status: number; stdout: string; stderr: string }> {
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

/** What `parse` must print for BuildKit's answer: its dump (plus a newline), or status 1. */
function expectBuildKit(out: { status: number; stdout: string }, answer: ParseAnswer, what: string): void {
  if (answer.ok) expect(out, what).toMatchObject({ status: 0, stdout: answer.dump + '\n' });
  else expect(out.status, `${what}: BuildKit says ${answer.error}`).toBe(1);
}

/** Lines BuildKit's parser keeps as instructions it does not know. */
const UNKNOWN_LINES = ['{{ if .Dev }}', '{{- end }}', '%%VERSION%%', '@BASE_IMAGE@', 'RUNN echo hi', 'COPPY a b', 'form alpine', 'EXPOSE_ 80', 'ENTRYPONT ["x"]', 'Cmd_ x \\', '${FROM} x'];

const TEMPLATES: Record<string, string> = {
  helm: 'FROM {{ .Values.base }}\n{{- if .Values.dev }}\nRUN apk add gdb\n{{- end }}\nCMD ["app"]\n',
  autoconf: 'FROM debian:%%SUITE%%\n%%INSTALL%%\nCOPY . /src\n',
  typos: 'FROM alpine\nRUNN echo hi\nEVN A=1\nWORKDIR /x\nCOPPY a b\n',
  onbuild: 'FROM a\nONBUILD ONBUILD RUN x\nONBUILD FROM b\n',
};

describe.runIf(oracle)('parse --format=buildkit agrees with BuildKit\'s parser', () => {
  it('on every file of BuildKit\'s parser tests', async () => {
    const files: string[] = [];
    for (const sub of ['testfiles', 'testfiles-negative']) {
      for (const name of readdirSync(join(corpus, sub))) files.push(join(corpus, sub, name, 'Dockerfile'));
    }
    expect(files.length).toBeGreaterThan(30);
    const answers = await oracle!.parseMany(files.map((f) => readFileSync(f, 'utf8')));
    for (const [i, path] of files.entries()) expectBuildKit(await parseInProcess(['parse', path], ''), answers[i]!, path);
  });

  it('on templates, typos and ONBUILD triggers a build would refuse', async () => {
    const names = Object.keys(TEMPLATES);
    const answers = await oracle!.parseMany(names.map((n) => TEMPLATES[n]!));
    for (const [i, name] of names.entries()) {
      expect(answers[i]!.ok, name).toBe(true);
      expectBuildKit(await parseInProcess(['parse', '-'], TEMPLATES[name]!), answers[i]!, name);
    }
  });

  it('on generated Dockerfiles with unknown instructions spliced in', async () => {
    const withUnknown = fc
      .tuple(dockerfileArbitrary(), fc.array(fc.tuple(fc.nat(), fc.constantFrom(...UNKNOWN_LINES)), { minLength: 1, maxLength: 3 }))
      .map(([text, inserts]) => {
        const lines = text.split('\n');
        for (const [at, line] of inserts) lines.splice(at % (lines.length + 1), 0, line);
        return lines.join('\n');
      });
    const texts = fc.sample(withUnknown, { numRuns: 300, seed: 0x5eed });
    const answers = await oracle!.parseMany(texts);
    let accepted = 0;
    for (const [i, text] of texts.entries()) {
      expectBuildKit(await parseInProcess(['parse', '-'], text), answers[i]!, text);
      if (answers[i]!.ok) accepted++;
    }
    // Most generated files parse: the check is about dumps, not rejections.
    expect(accepted).toBeGreaterThan(texts.length / 2);
  });
});

describe('the real program', () => {
  const exec = promisify(execFile);
  const cli = (args: string[]) =>
    exec(process.execPath, ['--import', tsx, join(repo, 'src/cli/main.ts'), ...args], { cwd: dir, timeout: 120_000 }).then(
      (r) => ({ status: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => ({ status: e.code, stdout: e.stdout, stderr: e.stderr }),
    );
  const file = join(dir, 'Dockerfile.typos');
  writeFileSync(file, TEMPLATES['typos']!);

  it('dumps unknown instructions as BuildKit does', { timeout: 300_000 }, async () => {
    const out = await cli(['parse', file]);
    const expected = '(from "alpine")\n(runn "")\n(evn "")\n(workdir "/x")\n(coppy "")\n';
    expect(out).toEqual({ status: 0, stdout: expected, stderr: '' });
    if (oracle) expect(out.stdout).toBe(((await oracle.parseMany([TEMPLATES['typos']!]))[0] as { dump: string }).dump + '\n');
  });

  it('rejects them in --format=json and in a build, with the did-you-mean, leaving the store untouched', { timeout: 300_000 }, async () => {
    const json = await cli(['parse', '--format=json', file]);
    expect(json).toEqual({ status: 1, stdout: '', stderr: `${file}:2:1: unknown instruction: RUNN (did you mean RUN?)\nRUNN echo hi\n^\n` });

    const ctx = join(dir, 'ctx');
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a /a\nCOPPY a /b\n');
    writeFileSync(join(ctx, 'a'), 'a');
    const store = join(dir, 'store');
    const build = await cli(['build', '--store', store, '-t', 'x', ctx]);
    expect(build.status).toBe(1);
    expect(build.stderr).toContain(`${join(ctx, 'Dockerfile')}:3:1: unknown instruction: COPPY (did you mean COPY?)\nCOPPY a /b\n^\n`);
    expect(readdirSync(dir).sort()).toEqual(['Dockerfile.typos', 'ctx']);
  });
});
