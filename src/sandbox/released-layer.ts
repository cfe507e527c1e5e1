/**
 * A layer whose files live in a step directory that must not outlive it.
 *
 * The executor interface returns a `Layer` and has no "done with it" call;
 * the builder streams `compressed()` once into its staging area and asks
 * for the digests (which that pass memoizes), then never reads the layer
 * again. So the step directory is removed after the first complete
 * `compressed()` pass; reading again after that is a `LAYER_RELEASED`
 * error. {@link ReleasingLayer.release} removes it earlier (the executor
 * calls it on abort and on dispose).
 * @module
 */
import type { Digest } from '../digest.js';
import type { Layer } from '../layers/layer.js';
import { SandboxError } from './errors.js';

/** A {@link Layer} that frees its backing files after it has been read once. */
export interface ReleasingLayer extends Layer {
  /** Removes the backing files now (idempotent). */
  release(): Promise<void>;
  readonly released: boolean;
}

/** Wraps `layer` (backed by files that `free` removes). */
export function releasingLayer(layer: Layer, free: () => Promise<void>): ReleasingLayer {
  let released = false;
  let freeing: Promise<void> | undefined;
  const release = () => {
    released = true;
    freeing ??= free();
    return freeing;
  };
  const guard = (what: string) => {
    if (released) throw new SandboxError('LAYER_RELEASED', `the step's layer was already read once and its files released (${what})`, { reason: what });
  };
  async function* stream(source: () => AsyncIterable<Uint8Array>, last: boolean): AsyncIterable<Uint8Array> {
    guard('stream');
    yield* source();
    if (last) {
      await Promise.all([layer.diffId(), layer.digest(), layer.size()]);
      await release();
    }
  }
  const wrapped: ReleasingLayer = {
    get mediaType() {
      return layer.mediaType;
    },
    diffId: (): Promise<Digest> => layer.diffId(),
    digest: (): Promise<Digest> => layer.digest(),
    size: () => layer.size(),
    compressed: () => stream(() => layer.compressed(), true),
    uncompressed: () => stream(() => layer.uncompressed(), false),
    ...(layer.uncompressedSize ? { uncompressedSize: () => layer.uncompressedSize!() } : {}),
    release,
    get released() {
      return released;
    },
  };
  return wrapped;
}
