/**
 * BuildKit's `Node.Dump`: the s-expression form of a parsed Dockerfile that
 * BuildKit's own parser tests compare against.
 * @module
 */
import { goTrimSpace } from './syntax/chars.js';
import { goQuote } from './syntax/go-quote.js';
import type { DockerfileAst, InstructionNode } from './syntax/node.js';

/**
 * One instruction as BuildKit dumps it: keyword, flags as a Go `%q` list,
 * then each argument Go-quoted, or ONBUILD's trigger in parentheses.
 *
 * @example
 * ```ts
 * dumpNode(parseDockerfile('COPY --from=a x y').children[0]); // 'copy ["--from=a"] "x" "y"'
 * ```
 */
export function dumpNode(node: InstructionNode): string {
  let out = node.keyword;
  if (node.flags.length > 0) out += ' [' + node.flags.map((value) => goQuote(value)).join(' ') + ']';
  if (node.child) {
    out += ' (' + dumpNode(node.child) + ')';
  } else {
    for (const arg of node.args) out += ' ' + goQuote(arg);
  }
  return goTrimSpace(out);
}

/**
 * The whole tree in BuildKit's dump format: one `(instruction …)` per line,
 * no trailing newline. BuildKit's `result` files are this plus `\n`.
 *
 * @example
 * ```ts
 * dumpAst(parseDockerfile('FROM alpine\nENV A=1\nCMD ["sh"]'));
 * // '(from "alpine")\n(env "A" "1" "=")\n(cmd "sh")'
 * ```
 */
export function dumpAst(ast: DockerfileAst): string {
  let out = '';
  for (const node of ast.children) out += '(' + dumpNode(node) + ')\n';
  return goTrimSpace(out);
}
