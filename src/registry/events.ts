/**
 * Progress events of registry transfers, delivered to the `onEvent` option.
 * @module
 */
import type { Digest } from '../digest.js';

/**
 * What a pull or push reports as it goes.
 *
 * - `resolved`: a reference named a manifest (or index) with this digest.
 * - `blob-start` / `blob-progress` / `blob-done`: one blob's transfer; progress
 *   carries bytes moved so far and the total. `blob-done`'s `result` says what
 *   happened: `downloaded`, `present` (already in the store, not fetched),
 *   `exists` (the registry had it), `mounted` (from another repository), `uploaded`.
 * - `retry`: a request failed and is tried again after `delayMs`.
 * - `manifest-pushed`: a manifest or index is in the registry under `reference`.
 *
 * @example
 * ```ts
 * await pull('localhost:5000/app:1', store, {
 *   onEvent(e) {
 *     if (e.type === 'blob-progress') console.log(e.digest.slice(7, 19), `${e.bytes}/${e.total}`);
 *   },
 * });
 * ```
 */
export type RegistryEvent =
  | { type: 'resolved'; reference: string; digest: Digest; mediaType: string }
  | { type: 'blob-start'; digest: Digest; total: number; direction: 'pull' | 'push' }
  | { type: 'blob-progress'; digest: Digest; bytes: number; total: number; direction: 'pull' | 'push' }
  | {
      type: 'blob-done';
      digest: Digest;
      total: number;
      direction: 'pull' | 'push';
      result: 'downloaded' | 'present' | 'exists' | 'mounted' | 'uploaded';
    }
  | { type: 'retry'; registry: string; operation: string; attempt: number; delayMs: number; reason: string }
  | { type: 'manifest-pushed'; reference: string; digest: Digest; mediaType: string };
