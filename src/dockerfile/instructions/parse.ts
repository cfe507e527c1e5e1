/**
 * Syntax nodes → typed instructions → stages (BuildKit's
 * `instructions.ParseInstruction` and `instructions.Parse`).
 * @module
 */
import { DockerfileSyntaxError } from '../errors.js';
import { suggest } from '../suggest.js';
import { goTrimSpace } from '../syntax/chars.js';
import type { DockerfileAst, InstructionNode } from '../syntax/node.js';
import { goToUpper } from '../unicode.js';
import { InstructionContext, type ParseInstructionOptions } from './context.js';
import {
  parseArg,
  parseEnv,
  parseExpose,
  parseFrom,
  parseLabel,
  parseMaintainer,
  parseStopsignal,
  parseUser,
  parseVolume,
  parseWorkdir,
} from './parse-basic.js';
import { parseAdd, parseCopy } from './parse-copy.js';
import { parseHealthcheck } from './parse-healthcheck.js';
import { parseCmd, parseEntrypoint, parseRun, parseShell } from './parse-run.js';
import type { ArgInstruction, Instruction, InstructionKind, OnbuildInstruction, Stage } from './types.js';

const PARSERS: Readonly<Record<InstructionKind, (ctx: InstructionContext) => Instruction>> = {
  add: parseAdd,
  arg: parseArg,
  cmd: parseCmd,
  copy: parseCopy,
  entrypoint: parseEntrypoint,
  env: parseEnv,
  expose: parseExpose,
  from: parseFrom,
  healthcheck: parseHealthcheck,
  label: parseLabel,
  maintainer: parseMaintainer,
  onbuild: parseOnbuild,
  run: parseRun,
  shell: parseShell,
  stopsignal: parseStopsignal,
  user: parseUser,
  volume: parseVolume,
  workdir: parseWorkdir,
};

const KEYWORDS = Object.keys(PARSERS).map((k) => k.toUpperCase());

/**
 * Reads one syntax node into a typed instruction: its flags (each
 * instruction declares its own), its arguments and their count, with
 * BuildKit's rules and messages.
 *
 * @throws {DockerfileSyntaxError} for an unknown instruction or flag (with
 * a did-you-mean when one is close), a bad flag value or a wrong number of
 * arguments, positioned at the keyword or at the offending flag.
 * @example
 * ```ts
 * const [node] = parseDockerfile('COPY --from=build --chmod=644 app /srv/').children;
 * const copy = parseInstruction(node);
 * if (copy.kind === 'copy') copy.from; // 'build'
 * ```
 */
export function parseInstruction(node: InstructionNode, options: ParseInstructionOptions = {}): Instruction {
  const ctx = new InstructionContext(node, options);
  const kind = node.keyword as InstructionKind;
  if (!Object.hasOwn(PARSERS, kind)) {
    const match = suggest(node.rawKeyword, KEYWORDS);
    const hint = match === undefined ? '' : ` (did you mean ${match}?)`;
    throw ctx.error(`unknown instruction: ${node.rawKeyword}${hint}`, match);
  }
  return PARSERS[kind](ctx);
}

/**
 * The stages of a Dockerfile and the ARGs before its first FROM.
 * @example
 * ```ts
 * const { stages } = parseInstructions(parseDockerfile('FROM a AS one\nFROM one'));
 * stages.map((s) => s.baseImage); // ['a', 'one']
 * ```
 */
export interface ParsedDockerfile {
  stages: Stage[];
  /** ARGs before the first FROM: visible only to FROM lines (and to ARGs that redeclare them). */
  metaArgs: ArgInstruction[];
}

/**
 * Reads every instruction and groups them into stages.
 *
 * @throws {DockerfileSyntaxError} as {@link parseInstruction}, and for an
 * instruction other than ARG before the first FROM.
 * @example
 * ```ts
 * const { stages, metaArgs } = parseInstructions(
 *   parseDockerfile('ARG V=3.20\nFROM alpine:$V AS base\nRUN apk add git'),
 * );
 * metaArgs[0].args[0];          // { key: 'V', value: '3.20' }
 * stages[0].name;               // 'base'
 * stages[0].instructions[0].kind; // 'run'
 * ```
 */
export function parseInstructions(ast: DockerfileAst, options: ParseInstructionOptions = {}): ParsedDockerfile {
  const opts: ParseInstructionOptions = { escapeToken: ast.escapeToken, ...options };
  const stages: Stage[] = [];
  const metaArgs: ArgInstruction[] = [];
  for (const node of ast.children) {
    const instruction = parseInstruction(node, opts);
    if (instruction.kind === 'from') {
      const stage: Stage = {
        index: stages.length,
        baseImage: instruction.image,
        from: instruction,
        instructions: [],
        location: instruction.range,
      };
      if (instruction.stageName !== undefined) stage.name = instruction.stageName;
      if (instruction.platform !== undefined) stage.platform = instruction.platform;
      if (instruction.docComment !== undefined) stage.docComment = instruction.docComment;
      stages.push(stage);
      continue;
    }
    const current = stages[stages.length - 1];
    if (!current) {
      if (instruction.kind === 'arg') {
        metaArgs.push(instruction);
        continue;
      }
      throw new InstructionContext(node, opts).error('no build stage in current context');
    }
    current.instructions.push(instruction);
  }
  return { stages, metaArgs };
}

/** `ONBUILD instruction`. */
function parseOnbuild(ctx: InstructionContext): OnbuildInstruction {
  const { node } = ctx;
  const child = node.child;
  if (!child) throw ctx.error('ONBUILD requires at least one argument');
  ctx.rejectFlags();
  const trigger = goToUpper(goTrimSpace(child.rawKeyword));
  if (trigger === 'ONBUILD') throw ctx.error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  if (trigger === 'MAINTAINER' || trigger === 'FROM') throw ctx.error(`${trigger} isn't allowed as an ONBUILD trigger`);

  let expression = node.original.replace(/^[\t\n\f\r ]*ONBUILD[\t\n\f\r ]*/iu, '');
  for (const heredoc of node.heredocs) expression += '\n' + heredoc.content + heredoc.name;

  const onbuild: OnbuildInstruction = Object.assign(ctx.base('onbuild'), { expression });
  // The parser hangs heredocs on the ONBUILD node; the trigger is what uses them.
  const triggerNode: InstructionNode = child.heredocs.length > 0 ? child : Object.assign({}, child, { heredocs: node.heredocs });
  try {
    onbuild.trigger = parseInstruction(triggerNode, ctx.options);
  } catch (err) {
    if (!(err instanceof DockerfileSyntaxError)) throw err;
    onbuild.triggerError = err;
  }
  return onbuild;
}
