/**
 * The file-system difference between two images (`layerkit diff IMAGE
 * IMAGE`), as a library function so that the CLI only prints it.
 * @module
 */
import { diff, type Change, type DiffOptions } from '../layers/changes/diff.js';
import { flatten } from '../layers/changes/squash.js';
import type { Image } from './image.js';

/**
 * What changes the file system of `from` into that of `to`: each image's
 * layers applied in order (whiteouts and all), then compared path by path.
 * Parents come before their children; the root itself is left out, as
 * `docker diff` leaves it out.
 *
 * @example
 * ```ts
 * const changes = await diffImages(await store.getImage('app:1'), await store.getImage('app:2'));
 * for (const c of changes) console.log(c.kind, c.path); // 'modify' '/app', 'add' '/app/new.js', …
 * ```
 */
export async function diffImages(from: Image, to: Image, options: DiffOptions = {}): Promise<Change[]> {
  const [before, after] = await Promise.all([from.layers().then((l) => flatten(l)), to.layers().then((l) => flatten(l))]);
  return diff(before, after, options).filter((c) => c.path !== '/');
}
