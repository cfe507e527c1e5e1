/**
 * node:zlib, loaded once when the runtime has it. Everything in this folder
 * falls back to fflate (pure JavaScript) when it does not.
 * @module
 */
import type * as NodeZlib from 'node:zlib';

export type Zlib = typeof NodeZlib;

export const nodeZlib: Zlib | undefined = await import('node:zlib').then(
  (m) => m as Zlib,
  () => undefined,
);

/** Which implementation compresses and decompresses. */
export type CompressionBackend = 'node' | 'fflate';

/** `node` wherever node:zlib exists. */
export const defaultCompressionBackend: CompressionBackend = nodeZlib ? 'node' : 'fflate';

/** node:zlib, or a typed error when it was asked for and is absent. */
export function requireZlib(): Zlib {
  if (!nodeZlib) throw new Error('node:zlib is not available on this runtime; use the fflate backend');
  return nodeZlib;
}
