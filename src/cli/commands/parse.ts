/**
 * `layerkit parse`: print a Dockerfile's syntax tree.
 * @module
 */
import { type DockerfileAst, DockerfileSyntaxError, dumpAst, type InstructionNode, parseDockerfile, parseInstructions } from '../../index.js';
import { parseFlags, UsageError, type CliIo, type Command, type Flags } from '../io.js';

const FORMATS = ['buildkit', 'json', 'tree'] as const;
type Format = (typeof FORMATS)[number];

const usage = `Usage: layerkit parse [--format=buildkit|json|tree] [--strict] FILE

Parses FILE (- for standard input) as a Dockerfile and prints it.

  --format=buildkit  BuildKit's dump of the syntax tree, one (instruction ...)
                     per line (default): what BuildKit's parser prints, unknown
                     instructions (templates, typos) included
  --format=json      the typed instructions, grouped into stages, with
                     positions (JSON, schema in docs/dockerfile-syntax.md);
                     an unknown instruction is an error, as in a build
  --format=tree      the raw syntax tree as JSON (same document as buildkit)
  --strict           with buildkit or tree: also reject what a build rejects
                     before it starts (unknown instructions, ONBUILD triggers
                     that are not allowed); --no-strict is the default

Exit status: 0 parsed, 1 the Dockerfile is invalid, 2 bad usage or unreadable file.
`;

/** The `parse` command. */
export const parseCommand: Command = {
  name: 'parse',
  summary: 'parse a Dockerfile; print its BuildKit dump or its instructions as JSON',
  usage,
  async run(args: string[], io: CliIo): Promise<number> {
    const { flags, positional } = parseFlags(args, [{ name: 'format', value: true }, { name: 'strict' }, { name: 'no-strict' }]);
    const format = flags.get('format') ?? 'buildkit';
    if (!(FORMATS as readonly string[]).includes(format)) {
      throw new UsageError(`unknown format ${JSON.stringify(format)} (expected ${FORMATS.join(', ')})`);
    }
    if (positional.length !== 1) throw new UsageError('expected exactly one FILE');
    const file = positional[0]!;
    let text: string;
    try {
      text = await io.readText(file);
    } catch (err) {
      io.stderr(`layerkit parse: cannot read ${file}: ${(err as Error).message}\n`);
      return 2;
    }
    let output: string;
    let ast: DockerfileAst;
    try {
      ast = parseDockerfile(text, { strict: strictness(format as Format, flags) });
      output = render(ast, format as Format, file, text);
    } catch (err) {
      if (err instanceof DockerfileSyntaxError) {
        io.stderr(err.format(file === '-' ? '<stdin>' : file) + '\n');
        return 1;
      }
      throw err;
    }
    for (const warning of ast.warnings) {
      io.stderr(`${file}:${warning.range.start.line}: warning: ${warning.short}\n`);
    }
    io.stdout(output);
    return 0;
  },
};

/**
 * BuildKit's parser keeps an unknown instruction as a node, and its dump
 * shows it; only turning nodes into instructions rejects it. So the dumps
 * parse as the parser does, and the typed instructions as a build does.
 */
function strictness(format: Format, flags: Flags): boolean {
  if (format === 'json') return true;
  if (flags.given('strict')) return flags.has('strict');
  if (flags.given('no-strict')) return !flags.has('no-strict');
  return false;
}

function render(ast: DockerfileAst, format: Format, file: string, text: string): string {
  switch (format) {
    case 'buildkit':
      return dumpAst(ast) + '\n';
    case 'json':
      return JSON.stringify(instructionsJson(ast, file, text), null, 2) + '\n';
    case 'tree':
      return JSON.stringify(treeJson(ast, file), null, 2) + '\n';
  }
}

function header(ast: DockerfileAst, file: string, format: 'instructions' | 'tree') {
  return {
    version: 1,
    format,
    file,
    escapeToken: ast.escapeToken,
    directives: ast.directives.map((d) => ({ name: d.name, value: d.value, line: d.line })),
  };
}

function warningsJson(ast: DockerfileAst) {
  return ast.warnings.map((w) => ({ message: w.short, detail: w.detail, url: w.url ?? null, range: w.range }));
}

/** The document of `--format=json`: typed instructions by stage (schema version 1). */
export function instructionsJson(ast: DockerfileAst, file: string, source?: string): object {
  const { stages, metaArgs } = parseInstructions(ast, source === undefined ? {} : { source });
  return {
    ...header(ast, file, 'instructions'),
    metaArgs,
    stages,
    warnings: warningsJson(ast),
  };
}

/** The document of `--format=tree`: the raw syntax tree (schema version 1). */
export function treeJson(ast: DockerfileAst, file: string): object {
  return {
    ...header(ast, file, 'tree'),
    instructions: ast.children.map(nodeJson),
    warnings: warningsJson(ast),
  };
}

function nodeJson(node: InstructionNode): object {
  return {
    keyword: node.keyword,
    rawKeyword: node.rawKeyword,
    flags: node.flags,
    args: node.args,
    json: node.json,
    child: node.child ? nodeJson(node.child) : null,
    heredocs: node.heredocs.map((h) => ({ name: h.name, content: h.content, expand: h.expand, chomp: h.chomp })),
    comments: node.comments,
    original: node.original,
    startLine: node.startLine,
    endLine: node.endLine,
    range: node.range,
  };
}
