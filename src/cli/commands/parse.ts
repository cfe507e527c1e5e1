/**
 * `layerkit parse`: print a Dockerfile's syntax tree.
 * @module
 */
import { DockerfileSyntaxError, dumpAst, parseDockerfile } from '../../dockerfile/index.js';
import type { DockerfileAst, InstructionNode } from '../../dockerfile/index.js';
import { parseOptions, UsageError, type CliIo, type Command } from '../io.js';

const usage = `Usage: layerkit parse [--format=buildkit|json] [--no-strict] FILE

Parses FILE (- for standard input) as a Dockerfile and prints its syntax tree.

  --format=buildkit  BuildKit's dump, one (instruction ...) per line (default)
  --format=json      the tree as JSON, schema in docs/dockerfile-syntax.md
  --no-strict        keep unknown instructions and any ONBUILD trigger, as
                     BuildKit's parser package does, instead of failing

Exit status: 0 parsed, 1 the Dockerfile is invalid, 2 bad usage or unreadable file.
`;

/** The `parse` command. */
export const parseCommand: Command = {
  name: 'parse',
  summary: 'print the syntax tree of a Dockerfile (BuildKit dump or JSON)',
  usage,
  async run(args: string[], io: CliIo): Promise<number> {
    const { options, positional } = parseOptions(args, { values: ['format'], booleans: ['no-strict'] });
    const format = options.get('format') ?? 'buildkit';
    if (format !== 'buildkit' && format !== 'json') {
      throw new UsageError(`unknown format ${JSON.stringify(format)} (expected buildkit or json)`);
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
    let ast: DockerfileAst;
    try {
      ast = parseDockerfile(text, { strict: !options.has('no-strict') });
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
    io.stdout(format === 'json' ? JSON.stringify(treeJson(ast, file), null, 2) + '\n' : dumpAst(ast) + '\n');
    return 0;
  },
};

/** The JSON document of `--format=json` (schema version 1). */
export function treeJson(ast: DockerfileAst, file: string): object {
  return {
    version: 1,
    file,
    escapeToken: ast.escapeToken,
    directives: ast.directives.map((d) => ({ name: d.name, value: d.value, line: d.line })),
    instructions: ast.children.map(instructionJson),
    warnings: ast.warnings.map((w) => ({ message: w.short, detail: w.detail, url: w.url ?? null, range: w.range })),
  };
}

function instructionJson(node: InstructionNode): object {
  return {
    keyword: node.keyword,
    rawKeyword: node.rawKeyword,
    flags: node.flags,
    args: node.args,
    json: node.json,
    child: node.child ? instructionJson(node.child) : null,
    heredocs: node.heredocs.map((h) => ({ name: h.name, content: h.content, expand: h.expand, chomp: h.chomp })),
    comments: node.comments,
    original: node.original,
    startLine: node.startLine,
    endLine: node.endLine,
    range: node.range,
  };
}
