/**
 * `docker commit`: an image made of the container's image (config and
 * layers), the container's writable layer on top, the container's
 * configuration (Env, Cmd, Entrypoint, WorkingDir, User as it was created)
 * and one history entry; stored, and tagged when a reference is given.
 * @module
 */
import type { Digest } from '../digest.js';
import type { Entry } from '../layers/entry.js';
import { layerFromEntries } from '../layers/from-entries.js';
import type { Layer } from '../layers/layer.js';
import type { Image } from '../image/image.js';
import { formatTimestamp } from '../image/json.js';
import { appendHistory, appendLayers, withConfig, withCreated } from '../image/mutate.js';
import type { ImageStore } from '../image/store/store.js';
import type { History } from '../image/types.js';
import type { ContainerSpec } from './state.js';
import { DEFAULT_PATH } from './user.js';

/**
 * Options of {@link ContainerRuntime.commit}.
 *
 * @example
 * ```ts
 * const options: ContainerCommitOptions = { reference: 'me/app:patched', message: 'hotfix', author: 'me <me@example.com>' };
 * ```
 */
export interface ContainerCommitOptions {
  /** `REPO[:TAG]` for the new image (default: none, an untagged image). */
  reference?: string;
  /** `-m`: the history entry's comment. */
  message?: string;
  /** `-a`: the image's author. */
  author?: string;
  /** Freeze a running container while its layer is read (default true, as `docker commit`; skipped where it cannot be paused). */
  pause?: boolean;
  /** Clamp the layer's mtimes and set the image's `created` to this time (seconds since the epoch). */
  sourceDateEpoch?: number;
}

/**
 * What {@link ContainerRuntime.commit} stored.
 *
 * @example
 * ```ts
 * const { id, tags } = await runtime.commit('web', { reference: 'web:snapshot' });
 * console.log(id.slice(7, 19), tags); // short image ID, ['docker.io/library/web:snapshot']
 * ```
 */
export interface ContainerCommitResult {
  /** The image ID (config digest). */
  id: Digest;
  /** The manifest digest. */
  digest: Digest;
  /** Canonical references now naming the image. */
  tags: string[];
  /** The layer added, or null when the container changed nothing (the history entry is then `empty_layer`, as Docker's). */
  layer: Layer | null;
}

/** Builds and stores the committed image (see the module notes). */
export async function commitImage(store: ImageStore, base: Image, spec: ContainerSpec, entries: Entry[], options: ContainerCommitOptions): Promise<ContainerCommitResult> {
  const epoch = options.sourceDateEpoch;
  const created = epoch === undefined ? new Date() : new Date(epoch * 1000);
  const baseConfig = (await base.config()).config ?? {};
  const imageHadPath = (baseConfig.Env ?? []).some((e) => e.startsWith('PATH='));
  // Docker keeps its default PATH out of the container's config (it is added to the process only).
  const env = spec.env.filter((e) => imageHadPath || e !== DEFAULT_PATH);
  let image = withConfig(base, {
    ...(options.author === undefined ? {} : { author: options.author }),
    config: {
      Env: env,
      Cmd: spec.cmd,
      Entrypoint: spec.entrypoint.length > 0 ? spec.entrypoint : undefined,
      WorkingDir: spec.workdir === '/' && !baseConfig.WorkingDir ? baseConfig.WorkingDir : spec.workdir,
      User: spec.userSpec === '' ? baseConfig.User : spec.userSpec,
    },
  });
  const history: History = {
    created: formatTimestamp(created),
    created_by: spec.cmd.join(' '),
    ...(options.author === undefined ? {} : { author: options.author }),
    ...(options.message === undefined ? {} : { comment: options.message }),
  };
  const layer = entries.length > 0 ? layerFromEntries(entries, epoch === undefined ? {} : { sourceDateEpoch: epoch }) : null;
  image = layer ? appendLayers(image, { layer, history }) : appendHistory(image, history);
  image = withCreated(image, created);
  const stored = await store.putImage(image, options.reference === undefined ? [] : [options.reference]);
  return { id: stored.id, digest: stored.digest, tags: stored.tags, layer };
}
