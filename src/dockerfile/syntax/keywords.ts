/**
 * The instruction keywords and how the parser reads each one's arguments
 * (BuildKit's `command` constants and its dispatch table, as data).
 * @module
 */

/**
 * How an instruction's arguments are split into `args`:
 * - `maybe-json`: a JSON array of strings, else the whole text as one argument;
 * - `maybe-json-list`: a JSON array, else whitespace-separated words;
 * - `words`: whitespace-separated words;
 * - `name-val`: `key=value` pairs, or the legacy `key value` form (ENV, LABEL);
 * - `name-or-name-val`: shell-like words, quotes kept (ARG);
 * - `string`: the whole text as one argument;
 * - `health`: a type word (`CMD`, `NONE`) then `maybe-json`;
 * - `sub-command`: another instruction (ONBUILD).
 */
export type ArgumentStyle =
  | 'maybe-json'
  | 'maybe-json-list'
  | 'words'
  | 'name-val'
  | 'name-or-name-val'
  | 'string'
  | 'health'
  | 'sub-command';

/** Every instruction keyword BuildKit knows, lowercased, with its argument style. */
export const INSTRUCTION_STYLES: Readonly<Record<string, ArgumentStyle>> = Object.freeze({
  add: 'maybe-json-list',
  arg: 'name-or-name-val',
  cmd: 'maybe-json',
  copy: 'maybe-json-list',
  entrypoint: 'maybe-json',
  env: 'name-val',
  expose: 'words',
  from: 'words',
  healthcheck: 'health',
  label: 'name-val',
  maintainer: 'string',
  onbuild: 'sub-command',
  run: 'maybe-json',
  shell: 'maybe-json',
  stopsignal: 'string',
  user: 'string',
  volume: 'maybe-json-list',
  workdir: 'string',
});

/**
 * The instruction keywords, lowercased and sorted.
 *
 * @example
 * ```ts
 * INSTRUCTION_KEYWORDS.includes('run'); // true
 * ```
 */
export const INSTRUCTION_KEYWORDS: readonly string[] = Object.freeze(Object.keys(INSTRUCTION_STYLES).sort());

const STYLES = new Map<string, ArgumentStyle>(Object.entries(INSTRUCTION_STYLES));

/** The argument style of a lowercased keyword, or undefined for an unknown one. */
export function argumentStyle(keyword: string): ArgumentStyle | undefined {
  return STYLES.get(keyword);
}

/** Instructions whose shell form may carry heredocs (`RUN <<EOF`). */
export function canHaveHeredocs(keyword: string): boolean {
  return keyword === 'run' || keyword === 'copy' || keyword === 'add';
}
