/**
 * COPY and ADD: sources, destination, heredoc sources and their flags.
 * @module
 */
import { parseHeredocWord, type HeredocStart } from '../syntax/index.js';
import type { InstructionContext } from './context.js';
import { FlagTable } from './flags.js';
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

// Declared in BuildKit's order, which decides ties between did-you-mean candidates.
const COPY_FLAGS = new FlagTable({
  chown: 'string',
  from: 'string',
  chmod: 'string',
  link: 'bool',
  exclude: 'strings',
  parents: 'bool',
});

const ADD_FLAGS = new FlagTable({
  chown: 'string',
  chmod: 'string',
  link: 'bool',
  'keep-git-dir': 'bool',
  checksum: 'string',
  unpack: 'bool',
  exclude: 'strings',
});

/** `COPY [--from=…] [--chown=…] [--chmod=…] [--link] [--parents] [--exclude=…]… src… dest`. */
export function parseCopy(ctx: InstructionContext): CopyInstruction {
  if (ctx.args.length < 2) {
    throw ctx.error('COPY requires at least two arguments, but only one was provided. Destination could not be determined');
  }
  const { values: flags } = ctx.parseFlags(COPY_FLAGS);
  const { sources, heredocs, dest } = sourcesAndDest(ctx, 'COPY');
  const copy: CopyInstruction = Object.assign(ctx.base('copy'), {
    sources,
    heredocs,
    dest,
    link: flags.link,
    parents: flags.parents,
    exclude: flags.exclude,
  });
  if (flags.from !== '') copy.from = flags.from;
  if (flags.chown !== '') copy.chown = flags.chown;
  if (flags.chmod !== '') copy.chmod = flags.chmod;
  return copy;
}

/** `ADD [--chown=…] [--chmod=…] [--link] [--keep-git-dir] [--checksum=…] [--unpack] [--exclude=…]… src… dest`. */
export function parseAdd(ctx: InstructionContext): AddInstruction {
  if (ctx.args.length < 2) {
    throw ctx.error('ADD requires at least two arguments, but only one was provided. Destination could not be determined');
  }
  const { values: flags, used } = ctx.parseFlags(ADD_FLAGS);
  const { sources, heredocs, dest } = sourcesAndDest(ctx, 'ADD');
  const add: AddInstruction = Object.assign(ctx.base('add'), { sources, heredocs, dest, link: flags.link, exclude: flags.exclude });
  if (flags.chown !== '') add.chown = flags.chown;
  if (flags.chmod !== '') add.chmod = flags.chmod;
  if (flags.checksum !== '') add.checksum = flags.checksum;
  if (used.includes('keep-git-dir')) add.keepGitDir = flags['keep-git-dir'];
  if (used.includes('unpack')) add.unpack = flags.unpack;
  return add;
}
