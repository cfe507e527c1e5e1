/**
 * The JSON (exec) form of an instruction's arguments, read as BuildKit's
 * `parseJSON` reads it with Go's `encoding/json`.
 * @module
 */
import { skipGoSpace } from './chars.js';

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');
const GO_JSON_MAX_DEPTH = 10000;

/** What {@link readJsonArray} found. */
export type JsonForm =
  /** Not JSON, or JSON Go's decoder rejects: the arguments are in shell form. */
  | { kind: 'not-json' }
  /** A JSON array holding something other than strings: an error in BuildKit. */
  | { kind: 'not-strings'; offset: number }
  | { kind: 'strings'; args: string[] };

/**
 * Reads `rest` as a JSON array of strings.
 *
 * @example
 * ```ts
 * readJsonArray('["sh", "-c"]'); // { kind: 'strings', args: ['sh', '-c'] }
 * readJsonArray('[sh]');         // { kind: 'not-json' }
 * readJsonArray('["a", 1]');     // { kind: 'not-strings', offset: 0 }
 * ```
 */
export function readJsonArray(rest: string): JsonForm {
  const begin = skipGoSpace(rest, 0);
  if (rest.charCodeAt(begin) !== 0x5b /* [ */) return NOT_JSON;
  let value: unknown;
  try {
    value = JSON.parse(begin === 0 ? rest : rest.slice(begin));
  } catch {
    return NOT_JSON;
  }
  if (!Array.isArray(value)) return NOT_JSON;
  const args: string[] = new Array(value.length);
  for (let i = 0; i < value.length; i++) {
    const item: unknown = value[i];
    if (typeof item !== 'string') {
      // Go's decoder fails on an out-of-range number and on nesting deeper than
      // 10000, which BuildKit treats as "not JSON" rather than "not strings".
      if (hasNonFiniteNumber(value) || nestingDepth(rest) > GO_JSON_MAX_DEPTH) return NOT_JSON;
      return { kind: 'not-strings', offset: begin };
    }
    // Go decodes an unpaired surrogate escape (and a raw byte) as U+FFFD.
    args[i] = LONE_SURROGATE.test(item) ? item.replace(LONE_SURROGATES, '\ufffd') : item;
  }
  return { kind: 'strings', args };
}

const NOT_JSON: JsonForm = { kind: 'not-json' };


function hasNonFiniteNumber(value: unknown): boolean {
  // Iterative: the value may nest tens of thousands deep.
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item === 'number') {
      if (!Number.isFinite(item)) return true;
    } else if (item !== null && typeof item === 'object') {
      for (const child of Object.values(item)) stack.push(child);
    }
  }
  return false;
}

/** How deeply arrays and objects nest in valid JSON text (`[]` is 1), as Go's scanner counts. */
function nestingDepth(json: string): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === 0x22 /* " */) {
      for (i++; i < json.length && json.charCodeAt(i) !== 0x22; i++) if (json.charCodeAt(i) === 0x5c) i++;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) max = depth;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return max;
}
