/**
 * Cache keys: what a step's result depends on, folded into one digest.
 *
 * A key is the SHA-256 of a canonical JSON array that starts with a version
 * tag, so a change to what keys cover changes every key instead of letting
 * an old record answer a new question. Canonical is the image documents'
 * generic form (`canonicalJsonString('generic', …)`: members sorted by the
 * UTF-8 bytes of their names, `undefined` members dropped, strings escaped as
 * Go escapes them): the same inputs give the same key in any process, on any
 * machine.
 * @module
 */
import { sha256, type Digest } from '../../digest.js';
import type { Instruction } from '../../dockerfile/instructions/types.js';
import { canonicalJsonString } from '../../image/json.js';

/**
 * The version tag at the start of every key. v2: keys are encoded with the
 * image documents' canonical JSON (Go's string escapes, UTF-8 member order),
 * so records written under v1 keys miss instead of matching differently.
 */
export const KEY_VERSION = 'layerkit.cache.key/v2';

/**
 * A cache key: `sha256:<hex>`.
 *
 * @example
 * ```ts
 * const key: CacheKey = keyOf(['base', { kind: 'scratch' }, 'linux/amd64']);
 * ```
 */
export type CacheKey = Digest;

/**
 * The key of a list of parts: the sha256 of the canonical JSON of `[KEY_VERSION, ...parts]`.
 *
 * @example
 * ```ts
 * keyOf(['base', 'scratch', 'linux/amd64']); // 'sha256:…', the same in every process
 * ```
 */
export function keyOf(parts: readonly unknown[]): CacheKey {
  let json: string;
  try {
    json = canonicalJsonString('generic', [KEY_VERSION, ...parts]);
  } catch (err) {
    // Key parts come from the builder's code, never from input: a part JSON cannot hold is a bug there.
    throw new TypeError(`cache key part cannot be encoded: ${(err as Error).message}`, { cause: err });
  }
  return sha256(json);
}

/** Fields of an instruction that say where it is or how it was spelled, not what it does. */
const POSITIONAL = new Set(['range', 'startLine', 'endLine', 'comments', 'keyword', 'original', 'docComment']);

/**
 * What an (expanded) instruction does, without where it stands: its kind,
 * typed fields and flags as written, but not its line, comments, keyword
 * case or white space. Moving an instruction, or editing a comment above
 * it, does not change its identity; any change of meaning does.
 *
 * @example
 * ```ts
 * instructionIdentity(copy); // { kind: 'copy', sources: ['a'], dest: '/a', flags: [], … }
 * ```
 */
export function instructionIdentity(instruction: Instruction): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(instruction)) if (!POSITIONAL.has(name)) out[name] = value;
  return out;
}

/**
 * Build-wide settings that change layer bytes: every key covers them.
 *
 * @example
 * ```ts
 * const settings: KeySettings = { epoch: 1700000000, compression: { level: 6 } };
 * ```
 */
export interface KeySettings {
  /** `SOURCE_DATE_EPOCH` (clamps layer times), or null. */
  epoch: number | null;
  /** Layer compression options as given (media type, level …). */
  compression: unknown;
}

/**
 * The inputs of one step's key.
 *
 * @example
 * ```ts
 * const input: StepKeyInput = { parent, instruction, vars: ['PATH=/bin'], platform: 'linux/amd64', settings, inputs: [checksum] };
 * ```
 */
export interface StepKeyInput {
  /** The chain key of the state the step starts from. */
  parent: CacheKey;
  /** The instruction after variable expansion. */
  instruction: Instruction;
  /** The variables the step can see (`K=V`, in order): the image's ENV, ARGs and ENVs met so far. */
  vars: readonly string[];
  /** The stage's platform (`linux/arm64/v8`). */
  platform: string;
  settings: KeySettings;
  /**
   * What the instruction reads besides its text: content checksums of the
   * selected COPY/ADD sources, of bind-mounted sources, a fetched URL's
   * digest, a resolved owner …
   */
  inputs: readonly unknown[];
  /**
   * True for a step whose result does not depend on the state it starts from
   * (`COPY --link`): its key leaves out the parent and the variables, so the
   * result survives a change below it.
   */
  independent?: boolean;
}

/**
 * The two keys of a step: `key`, under which its result is recorded, and
 * `chain`, the key of the state after it — what the next step's `parent` is.
 * For an ordinary step they are equal. For an independent one (`COPY
 * --link`) the result is looked up without the parent, but the state after
 * it still depends on the parent: `chain = keyOf(['chain', parent, key])`.
 *
 * @example
 * ```ts
 * const { key, chain } = stepKeys({ parent, instruction, vars: ['PATH=/bin'], platform: 'linux/amd64', settings, inputs: [sum] });
 * ```
 */
export function stepKeys(input: StepKeyInput): { key: CacheKey; chain: CacheKey } {
  const what = instructionIdentity(input.instruction);
  if (input.independent) {
    const key = keyOf(['independent', what, input.platform, input.settings, input.inputs]);
    return { key, chain: keyOf(['chain', input.parent, key]) };
  }
  const key = keyOf(['step', input.parent, what, input.vars, input.platform, input.settings, input.inputs]);
  return { key, chain: key };
}

/**
 * What a stage starts from, for {@link baseKey}.
 *
 * @example
 * ```ts
 * const base: BaseIdentity = { kind: 'image', digest: await image.configDigest() };
 * ```
 */
export type BaseIdentity =
  | { kind: 'scratch' }
  /** An image: its config digest (which lists every layer's diffID). */
  | { kind: 'image'; digest: string }
  /** An earlier stage: the chain key of its final state. */
  | { kind: 'stage'; key: CacheKey }
  /** A named context directory used as a stage: the content checksum of all of it. */
  | { kind: 'context'; checksum: string };

/**
 * The chain key of a stage's initial state. A stage built on another stage
 * is keyed by that stage's final chain key, so its steps hit exactly when
 * that stage's last step ended in a known state.
 *
 * @example
 * ```ts
 * baseKey({ kind: 'image', digest: await image.configDigest() }, 'linux/amd64');
 * ```
 */
export function baseKey(base: BaseIdentity, platform: string): CacheKey {
  return keyOf(['base', base, platform]);
}
