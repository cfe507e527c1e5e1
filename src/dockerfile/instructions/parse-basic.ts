/**
 * FROM and the instructions that only set metadata or variables: ENV, LABEL,
 * ARG, MAINTAINER, EXPOSE, USER, WORKDIR, VOLUME, STOPSIGNAL.
 * @module
 */
import { goQuote } from '../shell/runes.js';
import { goTrimSpace } from '../syntax/chars.js';
import { goToLower } from '../unicode.js';
import type { InstructionContext } from './context.js';
import { FlagTable } from './flags.js';
import type {
  ArgDefinition,
  ArgInstruction,
  EnvInstruction,
  ExposeInstruction,
  FromInstruction,
  KeyValue,
  LabelInstruction,
  MaintainerInstruction,
  StopsignalInstruction,
  UserInstruction,
  VolumeInstruction,
  WorkdirInstruction,
} from './types.js';

const FROM_FLAGS = new FlagTable({ platform: 'string' });

const VALID_STAGE_NAME = /^[a-z][a-z0-9\-_.]*$/;

/** Go's `strings.EqualFold(word, "as")`: `ſ` (U+017F) folds to `s` too. */
function isAs(word: string): boolean {
  const chars = [...word];
  return chars.length === 2 && /^[aA]$/.test(chars[0]!) && /^[sSſ]$/u.test(chars[1]!);
}

/** BuildKit's `getDocComment`: the rest of the first comment line starting with `name `. */
export function docComment(comments: readonly string[], name: string): string | undefined {
  if (name === '') return undefined;
  for (const line of comments) {
    if (line.startsWith(name + ' ')) return line.slice(name.length + 1);
  }
  return undefined;
}

/** `FROM [--platform=…] image [AS name]`. */
export function parseFrom(ctx: InstructionContext): FromInstruction {
  const args = ctx.args;
  let stageName: string | undefined;
  if (args.length === 3 && isAs(args[1]!)) {
    stageName = goToLower(args[2]!);
    if (!VALID_STAGE_NAME.test(stageName)) {
      throw ctx.errorAtArg(
        args[2]!,
        `invalid name for build stage: ${goQuote(args[2]!)}, name can't start with a number or contain symbols`,
      );
    }
  } else if (args.length !== 1) {
    throw ctx.error('FROM requires either one or three arguments');
  }
  const { values: flags } = ctx.parseFlags(FROM_FLAGS);
  const from: FromInstruction = Object.assign(ctx.base('from'), { image: args[0]! });
  if (stageName !== undefined) {
    from.stageName = stageName;
    const comment = docComment(ctx.node.comments, stageName);
    if (comment !== undefined) from.docComment = comment;
  }
  if (flags.platform !== '') from.platform = flags.platform;
  return from;
}

/** ENV and LABEL arguments: `key, value, separator` triples from the parser. */
function keyValues(ctx: InstructionContext, keyword: 'ENV' | 'LABEL'): KeyValue[] {
  const args = ctx.args;
  if (args.length === 0) throw ctx.error(`${keyword} requires at least one argument`);
  if (args.length % 3 !== 0) throw ctx.error(`Bad input to ${keyword}, too many arguments`);
  const pairs: KeyValue[] = [];
  for (let i = 0; i < args.length; i += 3) {
    const key = args[i]!;
    if (key === '') throw ctx.error(`${keyword} names can not be blank`);
    pairs.push({ key, value: args[i + 1]!, legacy: args[i + 2] === '' });
  }
  return pairs;
}

/** `ENV key=value…` or the legacy `ENV key value`. */
export function parseEnv(ctx: InstructionContext): EnvInstruction {
  ctx.rejectFlags();
  return Object.assign(ctx.base('env'), { env: keyValues(ctx, 'ENV') });
}

/** `LABEL key=value…`. */
export function parseLabel(ctx: InstructionContext): LabelInstruction {
  ctx.rejectFlags();
  return Object.assign(ctx.base('label'), { labels: keyValues(ctx, 'LABEL') });
}

function exactlyOne(ctx: InstructionContext, keyword: string): string {
  if (ctx.args.length !== 1) throw ctx.error(`${keyword} requires exactly one argument`);
  return ctx.args[0]!;
}

/** The one argument of an instruction that takes no flags (the count is checked first, as BuildKit does). */
function onlyArgument(ctx: InstructionContext, keyword: string): string {
  const argument = exactlyOne(ctx, keyword);
  ctx.rejectFlags();
  return argument;
}

/** `MAINTAINER name`. */
export function parseMaintainer(ctx: InstructionContext): MaintainerInstruction {
  return Object.assign(ctx.base('maintainer'), { maintainer: onlyArgument(ctx, 'MAINTAINER') });
}

/** `USER user[:group]`. */
export function parseUser(ctx: InstructionContext): UserInstruction {
  return Object.assign(ctx.base('user'), { user: onlyArgument(ctx, 'USER') });
}

/** `WORKDIR path`. */
export function parseWorkdir(ctx: InstructionContext): WorkdirInstruction {
  return Object.assign(ctx.base('workdir'), { path: onlyArgument(ctx, 'WORKDIR') });
}

/** `STOPSIGNAL signal`. BuildKit reads no flags for it: any given are ignored. */
export function parseStopsignal(ctx: InstructionContext): StopsignalInstruction {
  const signal = exactlyOne(ctx, 'STOPSIGNAL');
  return Object.assign(ctx.base('stopsignal'), { signal });
}

/** Go's byte-wise string order, which is code point order (JavaScript's sort compares UTF-16 units). */
export function compareCodePoints(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/** `EXPOSE port[/proto]…`; the ports come out sorted, as BuildKit sorts them. */
export function parseExpose(ctx: InstructionContext): ExposeInstruction {
  if (ctx.args.length === 0) throw ctx.error('EXPOSE requires at least one argument');
  ctx.rejectFlags();
  return Object.assign(ctx.base('expose'), { ports: [...ctx.args].sort(compareCodePoints) });
}

/** `VOLUME path…` or `VOLUME ["path", …]`. */
export function parseVolume(ctx: InstructionContext): VolumeInstruction {
  if (ctx.args.length === 0) throw ctx.error('VOLUME requires at least one argument');
  ctx.rejectFlags();
  const volumes = ctx.args.map((arg) => goTrimSpace(arg));
  if (volumes.includes('')) throw ctx.error('VOLUME specified can not be an empty string');
  return Object.assign(ctx.base('volume'), { volumes });
}

/** `ARG name[=default]…`. BuildKit reads no flags for it: any given are ignored. */
export function parseArg(ctx: InstructionContext): ArgInstruction {
  if (ctx.args.length === 0) throw ctx.error('ARG requires at least one argument');
  const args = ctx.args.map((arg): ArgDefinition => {
    const eq = arg.indexOf('=');
    const definition: ArgDefinition = { key: eq < 0 ? arg : arg.slice(0, eq) };
    if (eq >= 0) {
      if (eq === 0) throw ctx.error('ARG names can not be blank');
      definition.value = arg.slice(eq + 1);
    }
    const comment = docComment(ctx.node.comments, definition.key);
    if (comment !== undefined) definition.docComment = comment;
    return definition;
  });
  return Object.assign(ctx.base('arg'), { args });
}
