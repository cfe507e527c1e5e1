/**
 * COPY and ADD: sources, destination, heredoc sources and their flags.
 * @module
 */
import { parseHeredocWord, type HeredocStart } from '../syntax/index.js';
import type { InstructionContext } from './context.js';
import type { AddInstruction, CopyInstruction, CopyLikeFields, SourceContent } from './types.js';

/** BuildKit's `MustParseHeredoc`: the heredoc a word opens, ignoring words that cannot be lexed. */
function heredocOf(word: string): HeredocStart | undefined {
  try {
    return parseHeredocWord(word);
  } catch {
    return undefined;
  }
}

/**
 * BuildKit's `ChompHeredocContent`: leading tabs go from every line (lines
 * end at `\n` only, as in Go's multi-line mode; JavaScript's `m` flag would
 * also break at `\r` and U+2028).
 */
export function chompHeredoc(content: string): string {
  return content
    .split('\n')
    .map((line) => line.replace(/^\t+/, ''))
    .join('\n');
}

function sourcesAndDest(ctx: InstructionContext, keyword: 'COPY' | 'ADD'): Pick<CopyLikeFields, 'sources' | 'heredocs' | 'dest'> {
  const args = ctx.args;
  const dest = args[args.length - 1]!;
  if (heredocOf(dest)) throw ctx.errorAtArg(dest, `${keyword} cannot accept a heredoc as a destination`);
  const bodies = new Map<string, string>();
  for (const heredoc of ctx.node.heredocs) bodies.set(heredoc.name, heredoc.content);

  const sources: string[] = [];
  const heredocs: SourceContent[] = [];
  for (const src of args.slice(0, -1)) {
    const heredoc = heredocOf(src);
    if (!heredoc) {
      sources.push(src);
      continue;
    }
    const body = bodies.get(heredoc.name) ?? '';
    heredocs.push({ path: heredoc.name, content: heredoc.chomp ? chompHeredoc(body) : body, expand: heredoc.expand });
  }
  return { sources, heredocs, dest };
}

function nonEmpty(value: string): string | undefined {
  return value === '' ? undefined : value;
}

/** `COPY [--from=…] [--chown=…] [--chmod=…] [--link] [--parents] [--exclude=…]… src… dest`. */
export function parseCopy(ctx: InstructionContext): CopyInstruction {
  if (ctx.args.length < 2) {
    throw ctx.error('COPY requires at least two arguments, but only one was provided. Destination could not be determined');
  }
  const chown = ctx.flags.addString('chown');
  const from = ctx.flags.addString('from');
  const chmod = ctx.flags.addString('chmod');
  const link = ctx.flags.addBool('link');
  const exclude = ctx.flags.addStrings('exclude');
  const parents = ctx.flags.addBool('parents');
  ctx.parseFlags();
  const paths = sourcesAndDest(ctx, 'COPY');
  const copy: CopyInstruction = {
    ...ctx.base('copy'),
    ...paths,
    link: link.value === 'true',
    parents: parents.value === 'true',
    exclude: [...exclude.values],
  };
  optional(copy, 'from', from.value);
  optional(copy, 'chown', chown.value);
  optional(copy, 'chmod', chmod.value);
  return copy;
}

/** `ADD [--chown=…] [--chmod=…] [--link] [--keep-git-dir] [--checksum=…] [--unpack] [--exclude=…]… src… dest`. */
export function parseAdd(ctx: InstructionContext): AddInstruction {
  if (ctx.args.length < 2) {
    throw ctx.error('ADD requires at least two arguments, but only one was provided. Destination could not be determined');
  }
  const chown = ctx.flags.addString('chown');
  const chmod = ctx.flags.addString('chmod');
  const link = ctx.flags.addBool('link');
  const keepGitDir = ctx.flags.addBool('keep-git-dir');
  const checksum = ctx.flags.addString('checksum');
  const unpack = ctx.flags.addBool('unpack');
  const exclude = ctx.flags.addStrings('exclude');
  ctx.parseFlags();
  const paths = sourcesAndDest(ctx, 'ADD');
  const add: AddInstruction = {
    ...ctx.base('add'),
    ...paths,
    link: link.value === 'true',
    exclude: [...exclude.values],
  };
  optional(add, 'chown', chown.value);
  optional(add, 'chmod', chmod.value);
  optional(add, 'checksum', checksum.value);
  if (keepGitDir.used) add.keepGitDir = keepGitDir.value === 'true';
  if (unpack.used) add.unpack = unpack.value === 'true';
  return add;
}

/** Sets a string field only when it has a value: BuildKit's "" means "not given". */
export function optional<T extends object, K extends keyof T & string>(target: T, key: K, value: string): void {
  const record = target as Record<string, unknown>;
  if (value === '') delete record[key];
  else record[key] = value;
}
