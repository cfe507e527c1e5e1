/**
 * The package as a consumer gets it: `npm pack` (which builds through
 * prepack) from a copy of this checkout, the tarball installed into a fresh
 * project, then an ES module and a CommonJS script type-checked against the
 * installed declarations and run; `layerkit/dockerfile` type-checked with no
 * Node types at all and loaded where there is no Node; the installed CLI run.
 *
 * The tarball's dependencies come from npm's cache (`--prefer-offline`):
 * `npm ci` in this checkout put them there.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runInNewContext } from 'node:vm';
import { build as bundle } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/builder/build.js';
import { ImageStore } from '../../src/image/store/store.js';

const exec = promisify(execFile);
const repo = join(import.meta.dirname, '../..');
const tsc = join(repo, 'node_modules/typescript/bin/tsc');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

let work = '';
let consumer = '';
let installed = '';
let packed: { files: Array<{ path: string }>; filename: string } = { files: [], filename: '' };

async function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<{ stdout: string; stderr: string }> {
  try {
    return await exec(cmd, args, { cwd, env: { ...process.env, ...env }, maxBuffer: 1 << 26, timeout: 240_000 });
  } catch (err) {
    const e = err as { message: string; stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

/** The context both scripts build, and the build they must reproduce. */
const CONTEXT = { 'hello.txt': 'hello from the package\n' };
const DOCKERFILE = 'FROM scratch\nCOPY hello.txt /hello.txt\nCMD ["/bin/cat", "/hello.txt"]\n';

const SCRIPT_BODY = (importLines: string, lk: string, df: string) => `${importLines}
async function main(dir: string): Promise<void> {
  const result = await ${lk}.build({
    context: dir + '/context',
    dockerfileText: ${JSON.stringify(DOCKERFILE)},
    store: new ${lk}.ImageStore(dir + '/store'),
    tags: ['hello:dev'],
    sourceDateEpoch: 0,
  });
  let error = '';
  try {
    ${df}.parseDockerfile('FORM alpine');
  } catch (err) {
    if (err instanceof ${df}.DockerfileSyntaxError && err instanceof ${lk}.LayerkitError) error = err.code + ': ' + err.message;
  }
  const cmd: string[] | undefined = (await result.image.config()).config?.Cmd;
  console.log(JSON.stringify({
    dump: ${df}.dumpAst(${df}.parseDockerfile('FROM a\\nRUN b')),
    digest: result.digest,
    cmd,
    error,
    sameParser: ${df}.parseDockerfile === ${lk}.parseDockerfile,
  }));
}
`;

const ESM = SCRIPT_BODY(
  "import * as lk from 'layerkit';\nimport * as df from 'layerkit/dockerfile';\n",
  'lk',
  'df',
) + 'await main(process.argv[2]!);\n';

const CJS = SCRIPT_BODY(
  "import lk = require('layerkit');\nimport df = require('layerkit/dockerfile');\n",
  'lk',
  'df',
) + 'main(process.argv[2]!).catch((err) => {\n  console.error(err);\n  process.exitCode = 1;\n});\n';

/** Uses only `layerkit/dockerfile`: must type-check with no Node types and no DOM. */
const PORTABLE = `import { dumpAst, parseDockerfile, parseInstructions, printDockerfile, ShellLex, DockerfileSyntaxError } from 'layerkit/dockerfile';
const ast = parseDockerfile('FROM alpine AS base\\nARG V=1\\nRUN echo $V\\n');
const { stages } = parseInstructions(ast);
const word: string = new ShellLex().processWord('\${V:-x}', ['V=2']);
const text: string = printDockerfile(ast) + dumpAst(ast) + stages.length + word;
export const ok: boolean = text.length > 0 && !(ast instanceof DockerfileSyntaxError);
`;

const TSCONFIG = (extra: object) =>
  JSON.stringify({
    compilerOptions: {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      strict: true,
      skipLibCheck: false,
      outDir: 'out',
      ...extra,
    },
  });

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'layerkit-consumer-'));
  // Pack from a copy: prepack rebuilds dist/, which must not change under the other tests.
  const stage = join(work, 'stage');
  await mkdir(stage);
  for (const name of ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'LICENSE', 'scripts', 'src', 'docs']) {
    await cp(join(repo, name), join(stage, name), { recursive: true });
  }
  await symlink(join(repo, 'node_modules'), join(stage, 'node_modules'));
  const out = await run(npm, ['pack', '--json', '--pack-destination', work], stage, { npm_config_loglevel: 'error', npm_config_update_notifier: 'false' });
  packed = (JSON.parse(out.stdout) as Array<typeof packed>)[0]!;

  consumer = join(work, 'consumer');
  await mkdir(join(consumer, 'context'), { recursive: true });
  await writeFile(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, version: '1.0.0' }));
  for (const [name, text] of Object.entries(CONTEXT)) await writeFile(join(consumer, 'context', name), text);
  await run(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', join(work, packed.filename)], consumer, {
    npm_config_loglevel: 'error',
    npm_config_update_notifier: 'false',
  });
  installed = join(consumer, 'node_modules/layerkit');
}, 600_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('ships the docs, the built code and its CommonJS doors, and no source maps', { timeout: 300_000 }, async () => {
    const files = packed.files.map((f) => f.path);
    const docs = (await readdir(join(repo, 'docs'))).filter((f) => f.endsWith('.md'));
    expect(docs.length).toBeGreaterThan(5);
    for (const doc of docs) expect(files).toContain(`docs/${doc}`);
    for (const f of ['README.md', 'LICENSE', 'package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'dist/dockerfile/index.d.ts', 'dist/cjs/index.cjs', 'dist/cjs/dockerfile.cjs']) {
      expect(files).toContain(f);
    }
    expect(files.filter((f) => f.endsWith('.map') || f.startsWith('src/') || f.startsWith('test/'))).toEqual([]);
    const js = await readFile(join(installed, 'dist/index.js'), 'utf8');
    expect(js).not.toContain('sourceMappingURL');
  });

  it('links only what it ships, builds at pack time and runs nothing at install time', { timeout: 300_000 }, async () => {
    const pkg = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8')) as {
      repository?: { url?: string };
      homepage?: string;
      scripts: Record<string, string>;
      exports: Record<string, string | Record<string, string>>;
    };
    // No address the package cannot vouch for: its README's links lead to files inside it.
    expect(pkg.repository).toBeUndefined();
    expect(pkg.homepage).toBeUndefined();
    const readme = await readFile(join(installed, 'README.md'), 'utf8');
    const relative = [...readme.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => m[1]!).filter((link) => !/^[a-z]+:/.test(link));
    expect(relative.length).toBeGreaterThan(3);
    for (const link of relative) await expect(stat(join(installed, link)), link).resolves.toBeDefined();
    expect(pkg.scripts['prepack']).toBeDefined();
    for (const hook of ['prepare', 'preinstall', 'install', 'postinstall']) expect(pkg.scripts[hook], hook).toBeUndefined();
    // Every target of the exports map is in the package.
    const files = new Set(packed.files.map((f) => f.path));
    for (const entry of Object.values(pkg.exports)) {
      for (const target of typeof entry === 'string' ? [entry] : Object.values(entry)) expect(files, target).toContain(target.replace(/^\.\//, ''));
    }
  });
});

describe('a consumer project', () => {
  it('type-checks an ES module and a CommonJS script against the installed package, and both run', { timeout: 300_000 }, async () => {
    await writeFile(join(consumer, 'esm.mts'), ESM);
    await writeFile(join(consumer, 'cjs.cts'), CJS);
    await writeFile(join(consumer, 'tsconfig.json'), TSCONFIG({ lib: ['ES2023'], types: ['node'], typeRoots: [join(repo, 'node_modules/@types')] }));
    await run(process.execPath, [tsc, '-p', 'tsconfig.json'], consumer);

    const expected = await build({
      context: join(consumer, 'context'),
      dockerfileText: DOCKERFILE,
      store: new ImageStore(join(work, 'reference-store')),
      tags: ['hello:dev'],
      sourceDateEpoch: 0,
    });
    for (const [script, dir] of [['out/esm.mjs', 'esm'], ['out/cjs.cjs', 'cjs']] as const) {
      await mkdir(join(consumer, dir));
      await cp(join(consumer, 'context'), join(consumer, dir, 'context'), { recursive: true });
      const { stdout, stderr } = await run(process.execPath, [script, join(consumer, dir)], consumer);
      expect(stderr, script).toBe('');
      expect(JSON.parse(stdout), script).toEqual({
        dump: '(from "a")\n(run "b")',
        digest: expected.digest,
        cmd: ['/bin/cat', '/hello.txt'],
        error: 'DOCKERFILE_SYNTAX: unknown instruction: FORM (did you mean FROM?)',
        sameParser: true,
      });
    }
  });

  it('type-checks layerkit/dockerfile with no Node types (types: [], lib ES2022 only), which the main entry needs', { timeout: 300_000 }, async () => {
    const portable = join(work, 'portable');
    await mkdir(portable);
    await symlink(join(consumer, 'node_modules'), join(portable, 'node_modules'));
    await writeFile(join(portable, 'package.json'), JSON.stringify({ name: 'portable', private: true, type: 'module' }));
    await writeFile(join(portable, 'tsconfig.json'), TSCONFIG({ lib: ['ES2022'], types: [], noEmit: true }));
    await writeFile(join(portable, 'parse.ts'), PORTABLE);
    await run(process.execPath, [tsc, '-p', 'tsconfig.json'], portable);

    // The same check of the main entry fails: it is what makes this one mean something.
    await writeFile(join(portable, 'parse.ts'), "import { ImageStore } from 'layerkit';\nexport const store = new ImageStore('x');\n");
    const failed = await exec(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: portable }).then(
      () => '',
      (err: { stdout: string }) => err.stdout,
    );
    expect(failed).toMatch(/error TS\d+/);
  });

  it('loads layerkit/dockerfile where there is no Node: a browser bundle run with no process, Buffer or require', { timeout: 300_000 }, async () => {
    const result = await bundle({
      stdin: { contents: "export { parseDockerfile, dumpAst } from 'layerkit/dockerfile';", resolveDir: consumer, loader: 'js' },
      bundle: true,
      platform: 'browser',
      format: 'iife',
      globalName: 'layerkitDockerfile',
      write: false,
      logLevel: 'silent',
    });
    const code = result.outputFiles[0]!.text;
    const sandbox: Record<string, unknown> = { TextDecoder, TextEncoder };
    runInNewContext(`${code}\nthis.out = layerkitDockerfile.dumpAst(layerkitDockerfile.parseDockerfile('FROM alpine\\nRUN <<EOF\\necho hi\\nEOF\\n'));`, sandbox);
    expect(sandbox['out']).toBe('(from "alpine")\n(run "<<EOF")');
  });

  it('installs the layerkit command, whose help points at docs that are in the package', { timeout: 300_000 }, async () => {
    const bin = join(consumer, 'node_modules/.bin/layerkit');
    expect((await run(bin, ['--version'], consumer)).stdout).toMatch(/^layerkit \d+\.\d+\.\d+/);
    const help = (await run(bin, ['parse', '--help'], consumer)).stdout;
    const linked = [...help.matchAll(/docs\/[\w-]+\.md/g)].map((m) => m[0]);
    expect(linked.length).toBeGreaterThan(0);
    for (const doc of linked) await expect(readFile(join(installed, doc), 'utf8')).resolves.toContain('#');
    await writeFile(join(consumer, 'Dockerfile'), 'FROM alpine\n{{ template }}\n');
    expect((await run(bin, ['parse', 'Dockerfile'], consumer)).stdout).toBe('(from "alpine")\n({{ "")\n');
  });
});
