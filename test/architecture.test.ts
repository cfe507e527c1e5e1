/**
 * The shape of the source tree as a test: no import cycles among the files
 * of `src/` (type-only imports count: a cycle of types is still two files
 * that cannot be read or moved apart), and the CLI reaches the library only
 * through the public API, so the CLI can do nothing a user of the package
 * cannot.
 */
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const src = join(root, 'src');

/** Every `.ts` file under `dir`, as paths relative to the repository. */
async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sourceFiles(path)));
    else if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(relative(root, path));
  }
  return out.sort();
}

/** Comments out of the way, so a commented-out or documented import is not an edge. */
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

/**
 * The module specifiers a file names: static `import … from`, side-effect
 * `import '…'`, `export … from`, and `import('…')` (dynamic imports and
 * import types alike).
 */
function specifiersOf(text: string): string[] {
  const code = stripComments(text);
  const found: string[] = [];
  const patterns = [
    /(?:^|[;\s])import\s+(?:type\s+)?[^'"`;]*?\sfrom\s*['"]([^'"]+)['"]/g,
    /(?:^|[;\s])import\s*['"]([^'"]+)['"]/g,
    /(?:^|[;\s])export\s+(?:type\s+)?(?:\*(?:\s+as\s+\w+)?|\{[^}]*\})\s*from\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const pattern of patterns) for (const m of code.matchAll(pattern)) found.push(m[1]!);
  return found;
}

/** The file a relative specifier names (`.js` → `.ts`), or undefined for a package or builtin. */
function resolveSpecifier(from: string, specifier: string, files: ReadonlySet<string>): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const base = relative(root, resolve(root, dirname(from), specifier));
  for (const candidate of [base.replace(/\.js$/, '.ts'), base, `${base}.ts`, join(base, 'index.ts')]) {
    if (files.has(candidate)) return candidate;
  }
  throw new Error(`${from}: cannot resolve ${JSON.stringify(specifier)}`);
}

/** The import graph: file → the files it imports. */
async function importGraph(texts: ReadonlyMap<string, string>): Promise<Map<string, Set<string>>> {
  const files = new Set(texts.keys());
  const graph = new Map<string, Set<string>>();
  for (const [file, text] of texts) {
    const edges = new Set<string>();
    for (const specifier of specifiersOf(text)) {
      const target = resolveSpecifier(file, specifier, files);
      if (target !== undefined) edges.add(target);
    }
    graph.set(file, edges);
  }
  return graph;
}

/** Strongly connected components with more than one file, or a file importing itself (Tarjan's algorithm, iterative). */
function cycles(graph: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const out: string[][] = [];
  let next = 0;
  for (const start of graph.keys()) {
    if (index.has(start)) continue;
    const work: Array<{ node: string; edges: Iterator<string> }> = [];
    const visit = (node: string) => {
      index.set(node, next);
      low.set(node, next);
      next++;
      stack.push(node);
      onStack.add(node);
      work.push({ node, edges: (graph.get(node) ?? new Set<string>()).values() });
    };
    visit(start);
    while (work.length > 0) {
      const frame = work.at(-1)!;
      const step = frame.edges.next();
      if (!step.done) {
        const to = step.value;
        if (!index.has(to)) visit(to);
        else if (onStack.has(to)) low.set(frame.node, Math.min(low.get(frame.node)!, index.get(to)!));
        continue;
      }
      work.pop();
      const parent = work.at(-1);
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.node);
        if (component.length > 1 || graph.get(frame.node)?.has(frame.node)) out.push(component.sort());
      }
    }
  }
  return out;
}

const PUBLIC_API = 'src/index.ts';

/** Imports from `src/cli/` to a file other than the public API or another CLI file (bare specifiers, builtins and packages, are not files of ours). */
function cliViolations(texts: ReadonlyMap<string, string>, graph: ReadonlyMap<string, ReadonlySet<string>>): string[] {
  const out: string[] = [];
  for (const file of texts.keys()) {
    if (!file.startsWith('src/cli/')) continue;
    for (const target of graph.get(file) ?? []) {
      if (target !== PUBLIC_API && !target.startsWith('src/cli/')) out.push(`${file} -> ${target}`);
    }
  }
  return out.sort();
}

/**
 * The layers of docs/architecture.md's table, lowest first: a module imports
 * only modules of lower layers (and itself). Two modules in one layer know
 * nothing of each other (the builder does not run containers; the sandbox
 * does not build images).
 */
const LAYERS: readonly (readonly string[])[] = [
  ['errors', 'csv', 'exit-cleanups', 'memo'],
  ['digest'],
  ['dockerfile', 'layers'],
  ['unionfs', 'image', 'context'],
  ['registry', 'sandbox', 'testing'],
  ['builder', 'containers'],
  ['index'],
  ['cli'],
];

/** The module a file belongs to: its folder under src/, or its name for a file directly in src/. */
function moduleOf(file: string): string {
  const parts = file.split('/');
  return parts.length > 2 ? parts[1]! : parts[1]!.replace(/\.ts$/, '');
}

/** Imports that point up or sideways in {@link LAYERS}, and files in modules the table does not name. */
function layerViolations(graph: ReadonlyMap<string, ReadonlySet<string>>): string[] {
  const rank = new Map(LAYERS.flatMap((names, i) => names.map((name) => [name, i] as const)));
  const out: string[] = [];
  for (const [file, targets] of graph) {
    const from = moduleOf(file);
    if (!rank.has(from)) out.push(`${file}: module ${from} is in no layer`);
    for (const target of targets) {
      const to = moduleOf(target);
      if (to === from || !rank.has(to) || !rank.has(from)) continue;
      if (rank.get(to)! >= rank.get(from)!) out.push(`${file} -> ${target}`);
    }
  }
  return out.sort();
}

async function readSources(): Promise<Map<string, string>> {
  const texts = new Map<string, string>();
  for (const file of await sourceFiles(src)) texts.set(file, await readFile(join(root, file), 'utf8'));
  return texts;
}

describe('architecture', () => {
  it('has no import cycles in src/, type-only imports included', async () => {
    const texts = await readSources();
    expect(texts.size).toBeGreaterThan(100);
    expect(cycles(await importGraph(texts))).toEqual([]);
  });

  it('lets the CLI import only the public API (src/index.ts), its own files, builtins and packages', async () => {
    const texts = await readSources();
    expect(cliViolations(texts, await importGraph(texts))).toEqual([]);
  });

  it('keeps every import pointing down the module layers of docs/architecture.md', async () => {
    expect(layerViolations(await importGraph(await readSources()))).toEqual([]);
  });

  it('finds a cycle through a type-only import and a re-export, and a deep CLI import', async () => {
    // The checker itself, on a small tree: if it saw nothing, the two tests above would pass vacuously.
    const texts = new Map([
      ['src/a.ts', "import type { B } from './b.js';\nexport type A = B;"],
      ['src/b.ts', "export { c as b } from './dir/c.js';\nexport type B = number;"],
      ['src/dir/c.ts', "// import { a } from '../a.js';\nexport const c = (await import('../a.js')) && 1;"],
      ['src/d.ts', "/* import '../e.js' */ import { a } from './a.js';"],
      ['src/index.ts', "export { b } from './b.js';"],
      ['src/cli/main.ts', "import { b } from '../index.js';\nimport { c } from '../dir/c.js';\nimport { join } from 'node:path';\nimport * as x from './util.js';"],
      ['src/cli/util.ts', "export { a } from '../a.js';"],
    ]);
    const graph = await importGraph(texts);
    expect(graph.get('src/d.ts')).toEqual(new Set(['src/a.ts']));
    expect(cycles(graph)).toEqual([['src/a.ts', 'src/b.ts', 'src/dir/c.ts']]);
    expect(cliViolations(texts, graph)).toEqual(['src/cli/main.ts -> src/dir/c.ts', 'src/cli/util.ts -> src/a.ts']);
    expect(cycles(new Map([['src/x.ts', new Set(['src/x.ts'])]]))).toEqual([['src/x.ts']]);
  });

  it('finds an upward, a sideways and an unplaced import', () => {
    const graph = new Map([
      ['src/layers/tar.ts', new Set(['src/image/image.ts', 'src/digest.ts', 'src/layers/entry.ts'])],
      ['src/builder/build.ts', new Set(['src/containers/runtime.ts', 'src/sandbox/executor.ts'])],
      ['src/extra/x.ts', new Set(['src/errors.ts'])],
    ]);
    expect(layerViolations(graph)).toEqual([
      'src/builder/build.ts -> src/containers/runtime.ts',
      'src/extra/x.ts: module extra is in no layer',
      'src/layers/tar.ts -> src/image/image.ts',
    ]);
  });
});
