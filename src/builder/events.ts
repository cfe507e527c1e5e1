/**
 * Progress events of a build, delivered to the `onEvent` option as they
 * happen: what a CLI prints as `#3 [build 2/5] COPY . /src`.
 * @module
 */

/** Which step an event is about. */
export interface StepRef {
  /** The stage's name, or its index as a string. */
  stage: string;
  /** 1-based position of the step among the stage's instructions (FROM is 0). */
  index: number;
  /** Number of instructions in the stage, FROM excluded. */
  total: number;
  /** The instruction's text, variables not expanded. */
  instruction: string;
  line: number;
}

/**
 * One progress event.
 *
 * - `build-start`: the stages that will run, in order.
 * - `step-start` / `step-end`: around each instruction; `step-end` tells
 *   whether the result came from the cache, the layer digest (or null when
 *   the step made no layer) and its duration.
 * - `output`: a chunk of a RUN's stdout or stderr.
 * - `warning`: something BuildKit would warn about (an unused build arg, an
 *   undefined variable, a legacy `ENV key value`…).
 * - `export`: an image written to the store or an output (`registry`: pushed).
 * - `base-resolve`: a base image found in the registry (manifest and config only).
 * - `base-download`: a registry base layer's blob downloaded into the store,
 *   because its file tree was needed (`file-tree`: a COPY destination with no
 *   layer index known, a RUN, `COPY --from`), its whole blob was (`store`: the
 *   result goes into the store), or it was streamed to another registry
 *   than the base's (`push`, not stored).
 * - `build-end`: the final image's digests.
 *
 * @example
 * ```ts
 * await build({
 *   context: '.',
 *   onEvent(e) {
 *     if (e.type === 'step-start') console.log(`[${e.step.stage} ${e.step.index}/${e.step.total}] ${e.step.instruction}`);
 *     if (e.type === 'output') process.stdout.write(e.chunk);
 *     if (e.type === 'warning') console.warn(`warning: ${e.message}`);
 *   },
 * });
 * ```
 */
export type BuildEvent =
  | { type: 'build-start'; stages: string[]; target: string }
  | { type: 'step-start'; step: StepRef }
  | { type: 'step-end'; step: StepRef; cached: boolean; layer: string | null; durationMs: number }
  | { type: 'output'; step: StepRef; stream: 'stdout' | 'stderr'; chunk: Uint8Array }
  | { type: 'warning'; code: BuildWarningCode; message: string; line?: number; column?: number }
  | { type: 'export'; kind: 'store' | 'oci' | 'docker' | 'registry' | 'image'; destination: string; digest: string }
  | { type: 'base-resolve'; reference: string; source: 'store' | 'registry'; digest: string; platform: string }
  | { type: 'base-download'; digest: string; bytes: number; reason: 'file-tree' | 'store' | 'push' }
  | { type: 'build-end'; digest: string; imageId: string; durationMs: number };

/** The kinds of warning a build reports. */
export type BuildWarningCode =
  /** A `buildArgs` entry that no ARG of a built stage declares. */
  | 'UnusedBuildArg'
  /** A variable used in an expanded word that is neither set nor a declared ARG. */
  | 'UndefinedVar'
  /** `ENV key value` / `LABEL key value` without `=`. */
  | 'LegacyKeyValueFormat'
  /** A parse-time warning of the Dockerfile (empty continuation lines…). */
  | 'DockerfileParse'
  /** An instruction that has no effect here (MAINTAINER, a `--platform` that does not change anything…). */
  | 'Ignored';

/** A listener of build events. */
export type BuildEventListener = (event: BuildEvent) => void;
