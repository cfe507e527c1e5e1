/**
 * Variable expansion of typed instructions, field by field as BuildKit's
 * builder does it (`Expand`, `ExpandRaw` and the dispatchers). Which fields
 * expand, and with which variables, is documented in
 * docs/dockerfile-instructions.md.
 * @module
 */
import { DockerfileSyntaxError } from '../errors.js';
import type { ShellEnv } from '../shell/env.js';
import { ShellExpansionError } from '../shell/errors.js';
import { ShellLex } from '../shell/lex.js';
import { MountError } from './mount.js';
import { expandMounts } from './parse-run.js';
import type { Instruction, KeyValue, SourceContent } from './types.js';

/**
 * Options of {@link expandInstruction}.
 * @example
 * ```ts
 * const unmatched = new Set<string>();
 * expandInstruction(instruction, lex, env, { unmatched });
 * for (const name of unmatched) console.warn(`${name} is not set`);
 * ```
 */
export interface ExpandOptions {
  /** Collects the names that were looked up and set. */
  matched?: Set<string>;
  /** Collects the names that were looked up and not set (BuildKit warns about these: UndefinedVar). */
  unmatched?: Set<string>;
  /** The Dockerfile text, for the source line shown under errors. */
  source?: string;
}

/** Heredoc bodies of COPY/ADD expand with `\` as escape and quotes left alone (BuildKit's `ExpandRaw`). */
const RAW_LEX = new ShellLex({ escapeToken: '\\', skipProcessQuotes: true });

/**
 * The instruction with its variables expanded against `env`, as a new
 * object (the input is not changed). Instructions the builder does not
 * expand (RUN's command, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, MAINTAINER,
 * ONBUILD) come back as they are, except RUN's mounts.
 *
 * `lex` should use the Dockerfile's escape token. `env` is what the
 * instruction sees: for FROM, the meta ARGs (and build args); inside a
 * stage, the base image's ENV plus the stage's ARGs and ENVs so far.
 *
 * @throws {ShellExpansionError} when a word does not expand (with the
 * instruction's line and column added), {@link DockerfileSyntaxError} for a
 * RUN mount that is invalid once expanded or a `COPY --from` that uses a
 * variable.
 * @example
 * ```ts
 * const [, node] = parseDockerfile('FROM alpine\nWORKDIR /srv/$APP').children;
 * const workdir = expandInstruction(parseInstruction(node), new ShellLex(), { APP: 'web' });
 * if (workdir.kind === 'workdir') workdir.path; // '/srv/web'
 * ```
 */
export function expandInstruction<T extends Instruction>(
  instruction: T,
  lex: ShellLex,
  env: ShellEnv,
  options: ExpandOptions = {},
): T {
  const located = (err: unknown): unknown => {
    if (!(err instanceof ShellExpansionError)) return err;
    const { line, column } = instruction.range.start;
    return new ShellExpansionError(err.message, { ...err.data, line, column }, { cause: err });
  };
  const expandWith = (lexer: ShellLex) => (text: string): string => {
    try {
      const result = lexer.processWordWithMatches(text, env);
      for (const name of result.matched) options.matched?.add(name);
      for (const name of result.unmatched) options.unmatched?.add(name);
      return result.word;
    } catch (err) {
      throw located(err);
    }
  };
  const word = expandWith(lex);
  const raw = expandWith(RAW_LEX);
  const pairs = (list: readonly KeyValue[]) => list.map((kv) => Object.assign({}, kv, { key: word(kv.key), value: word(kv.value) }));
  const contents = (list: readonly SourceContent[]) =>
    list.map((h) => Object.assign({}, h, h.expand ? { content: raw(h.content) } : {}));
  const optionalWord = <V extends string | undefined>(value: V): V =>
    (value === undefined ? value : word(value)) as V;
  const fail = (message: string): DockerfileSyntaxError => {
    const { line, column } = instruction.range.start;
    const sourceLine =
      options.source === undefined
        ? ' '.repeat(column - 1) + instruction.original
        : (options.source.split('\n')[line - 1] ?? '').replace(/\r+$/, '');
    return new DockerfileSyntaxError(message, { line, column, sourceLine });
  };

  const ins: Instruction = instruction;
  let out: Instruction;
  switch (ins.kind) {
    case 'from':
      out = Object.assign({}, ins, { image: word(ins.image) });
      if (ins.platform !== undefined) out.platform = word(ins.platform);
      break;
    case 'env':
      out = Object.assign({}, ins, { env: pairs(ins.env) });
      break;
    case 'label':
      out = Object.assign({}, ins, { labels: pairs(ins.labels) });
      break;
    case 'copy':
    case 'add': {
      if (ins.kind === 'copy' && ins.from !== undefined && lex.processWord(ins.from, []) !== ins.from) {
        throw fail(
          'variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround',
        );
      }
      // BuildKit's order: chown, chmod, checksum (ADD), sources, destination, heredoc bodies.
      const chown = optionalWord(ins.chown);
      const chmod = optionalWord(ins.chmod);
      const checksum = ins.kind === 'add' ? optionalWord(ins.checksum) : undefined;
      const sources = ins.sources.map(word);
      const dest = word(ins.dest);
      const heredocs = contents(ins.heredocs);
      out = Object.assign({}, ins, { sources, dest, heredocs, exclude: [...ins.exclude] });
      setOptional(out, 'chown', chown);
      setOptional(out, 'chmod', chmod);
      if (ins.kind === 'add') setOptional(out, 'checksum', checksum);
      break;
    }
    case 'workdir':
      out = Object.assign({}, ins, { path: word(ins.path) });
      break;
    case 'user':
      out = Object.assign({}, ins, { user: word(ins.user) });
      break;
    case 'stopsignal':
      out = Object.assign({}, ins, { signal: word(ins.signal) });
      break;
    case 'volume':
      out = Object.assign({}, ins, { volumes: ins.volumes.map(word) });
      break;
    case 'expose':
      out = Object.assign({}, ins, { ports: ins.ports.flatMap((port) => splitWords(lex, port, env, options, located)) });
      break;
    case 'arg':
      // The builder expands defaults only; names are taken as written.
      out = Object.assign({}, ins, { args: ins.args.map((a) => Object.assign({}, a, a.value === undefined ? {} : { value: word(a.value) })) });
      break;
    case 'run':
      try {
        out = Object.assign({}, ins, { mounts: expandMounts(ins.mountSpecs, word) });
      } catch (err) {
        if (err instanceof MountError) throw fail(err.message);
        throw err;
      }
      break;
    default:
      out = ins;
  }
  return out as T;
}

/** EXPOSE splits each expanded port on white space (`EXPOSE $PORTS`). */
function splitWords(
  lex: ShellLex,
  text: string,
  env: ShellEnv,
  options: ExpandOptions,
  located: (err: unknown) => unknown,
): string[] {
  try {
    // Word splitting does not report names; look them up the single-word way for the record.
    const { matched, unmatched } = lex.processWordWithMatches(text, env);
    for (const name of matched) options.matched?.add(name);
    for (const name of unmatched) options.unmatched?.add(name);
    return lex.processWords(text, env);
  } catch (err) {
    throw located(err);
  }
}

function setOptional(target: object, key: string, value: string | undefined): void {
  const record = target as Record<string, unknown>;
  if (value === undefined || value === '') delete record[key];
  else record[key] = value;
}
