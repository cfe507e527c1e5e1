/**
 * node:zlib, loaded once when the runtime has it. Everything in this folder
 * falls back to fflate (pure JavaScript) when it does not.
 * @module
 */
import type * as NodeZlib from 'node:zlib';

export type Zlib = typeof NodeZlib;

/**
 * Looked up synchronously (no top-level await, so `require('layerkit')` can
 * load the package); undefined without `process.getBuiltinModule` (Node <
 * 20.16, browsers), where fflate takes over.
 */
export const nodeZlib: Zlib | undefined = (() => {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  try {
    return proc?.getBuiltinModule?.('node:zlib') as Zlib | undefined;
  } catch {
    return undefined;
  }
})();

/** Which implementation compresses and decompresses. */
export type CompressionBackend = 'node' | 'fflate';

/** `node` wherever node:zlib exists. */
export const defaultCompressionBackend: CompressionBackend = nodeZlib ? 'node' : 'fflate';

/** node:zlib, or a typed error when it was asked for and is absent. */
export function requireZlib(): Zlib {
  if (!nodeZlib) throw new Error('node:zlib is not available on this runtime; use the fflate backend');
  return nodeZlib;
}
