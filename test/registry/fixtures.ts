// Image fixtures and a request recorder for the registry tests (not a test file itself).
import { randomBytes } from 'node:crypto';
import { fetch as undiciFetch } from 'undici';
import { emptyImage, type Image } from '../../src/image/image.js';
import { appendLayers } from '../../src/image/mutate.js';
import type { Platform } from '../../src/image/types.js';
import type { Layer } from '../../src/layers/layer.js';
import { layerOf } from '../image/helpers.js';

/** A layer with a few files of random (incompressible) text, `kib` KiB in all. */
export function randomLayer(kib = 4): Layer {
  const files: Record<string, string> = {};
  const perFile = Math.max(1, Math.ceil(kib / 4));
  for (let i = 0; i < 4; i++) files[`/data/${randomBytes(4).toString('hex')}/f${i}.bin`] = randomBytes(perFile * 512).toString('base64');
  return layerOf(files);
}

/** An image of `layers` random layers on an empty base of `platform`. */
export function randomImage(layers = 2, kib = 4, platform: Platform = { os: 'linux', architecture: 'amd64' }): Image {
  return appendLayers(emptyImage(platform), ...Array.from({ length: layers }, () => randomLayer(kib)));
}

/** Every request a client makes, as `METHOD path`. */
export interface Recorder {
  requests: string[];
  fetch: typeof fetch;
}

/** A fetch that records each request and passes it to undici's fetch. */
export function recordingFetch(): Recorder {
  const requests: string[] = [];
  const recorded = ((url: string, init: Record<string, unknown>) => {
    const u = new URL(url);
    requests.push(`${String(init.method ?? 'GET')} ${u.pathname}${u.search}`);
    return undiciFetch(url, init as Parameters<typeof undiciFetch>[1]);
  }) as unknown as typeof fetch;
  return { requests, fetch: recorded };
}
