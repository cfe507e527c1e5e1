/**
 * The options of {@link build} and what it returns.
 * @module
 */
import type { Image } from '../image/image.js';
import type { OutputSpec } from '../image/output-spec.js';
import type { ImageStore } from '../image/store/store.js';
import type { Platform } from '../image/types.js';
import type { LayerCompressionOptions } from '../layers/from-uncompressed.js';
import type { BuildEventListener } from './events.js';
import type { RunExecutor, RunHandler } from '../sandbox/executor.js';
import type { CacheOptions, CacheReport } from './cache/cache-options.js';
import type { RegistryAccess } from './remote-base.js';
import type { XattrReader } from '../context/xattrs.js';

/**
 * What an ADD of a URL is fetched with: given the URL, return the bytes and,
 * when known, the Last-Modified time (seconds), which becomes the file's
 * mtime as in BuildKit. layerkit itself never opens a network connection.
 *
 * @example
 * ```ts
 * const fetcher: Fetcher = async (url, { signal }) => {
 *   const res = await fetch(url, { signal });
 *   if (!res.ok) throw new Error(`${url}: ${res.status}`);
 *   const modified = res.headers.get('last-modified');
 *   return { data: new Uint8Array(await res.arrayBuffer()), mtime: modified ? Date.parse(modified) / 1000 : undefined };
 * };
 * ```
 */
export type Fetcher = (
  url: string,
  options: { signal?: AbortSignal },
) => Promise<{ data: Uint8Array; mtime?: number | undefined }>;

/** A secret for `RUN --mount=type=secret`: its bytes, a file to read, or an environment variable of this process. */
export type SecretSource = Uint8Array | { file: string } | { env: string };

/**
 * Options of {@link build}. Only `context` is usually needed.
 *
 * @example
 * ```ts
 * const result = await build({
 *   context: 'examples/hello',
 *   tags: ['hello:1'],
 *   buildArgs: { VERSION: '1.2.3' },
 *   sourceDateEpoch: 1700000000,
 *   output: 'type=oci,dest=out/hello,tar=false',
 * });
 * ```
 */
export interface BuildOptions extends CacheOptions {
  /** The build context directory (default `.`). */
  context?: string;
  /**
   * The Dockerfile: a path relative to the context (or absolute), default
   * `Dockerfile` in the context (falling back to `dockerfile`).
   */
  dockerfile?: string;
  /** The Dockerfile's text, instead of reading a file (`docker build -f -`). */
  dockerfileText?: string;
  /** Names to tag the image with in the store (`app`, `me/app:1`); none by default, like `docker build` without `-t`. */
  tags?: string | readonly string[];
  /** `--build-arg` values. */
  buildArgs?: Readonly<Record<string, string>>;
  /** The stage to build (default the last one). */
  target?: string;
  /** The platform to build for (`linux/arm64`); default the host's Linux platform. */
  platform?: string | Platform;
  /**
   * Several platforms (`--platform linux/amd64,linux/arm64`): the stages are
   * built once per platform and the result is an OCI image index with one
   * image each. Only for builds whose RUN steps (if any) run on the host's
   * platform, and only to outputs that can hold an index (a registry push,
   * `type=oci`); the local store holds single-platform images.
   */
  platforms?: ReadonlyArray<string | Platform>;
  /**
   * Resolve every base image against the registry, even when the local store
   * has the reference (`docker build --pull`). Default false: the store's
   * image when it has the reference, the registry otherwise.
   */
  pull?: boolean;
  /** Push the result to every tag (`--push`, the same as `output: 'type=registry'` named by `tags`). */
  push?: boolean;
  /**
   * Put the result into the local store also when the build pushes and its
   * base layers were never downloaded (a lazy base). Default: a build that
   * pushes stores its result only when every layer is already local.
   */
  load?: boolean;
  /**
   * How base images, pushes and registry caches reach registries: the
   * client's options (credentials, insecure hosts, CAs, events…) or a
   * client to use.
   */
  registry?: RegistryAccess;
  /** Labels added to the image config (`--label`). */
  labels?: Readonly<Record<string, string>>;
  /** The image store, or its directory (default `$LAYERKIT_HOME`, else `~/.local/share/layerkit`). */
  store?: ImageStore | string;
  /** Runs RUN instructions. */
  executor?: RunExecutor;
  /**
   * Runs RUN instructions as a function over the union file system (see
   * {@link handlerExecutor}). Its steps are cached only with a
   * {@link BuildOptions.runCacheKey}: the cache cannot see the function's code.
   */
  run?: RunHandler;
  /**
   * Stands for what RUN steps do beyond their text: part of every RUN step's
   * cache key. Change it whenever the `run` handler (or an executor of your
   * own) changes behaviour — a version string, a hash of its source. Without
   * it, RUN steps served by `run` are never cached (they and the rest of
   * their stage run every time); sandbox RUN steps are cached on their text,
   * as in BuildKit.
   *
   * @example
   * ```ts
   * await build({ context: '.', run: myHandler, runCacheKey: 'my-handler/3' });
   * ```
   */
  runCacheKey?: string;
  /** Aborts the build (a `BUILD_ABORTED` error; the store is left unchanged). */
  signal?: AbortSignal;
  /** Progress events. */
  onEvent?: BuildEventListener;
  /**
   * `SOURCE_DATE_EPOCH` in seconds: the config's `created`, every history
   * time and the clamp for layer mtimes. Default: the `SOURCE_DATE_EPOCH`
   * build arg, else the environment variable of that name, else unset
   * (build time).
   */
  sourceDateEpoch?: number;
  /**
   * Named contexts (`--build-context name=value`): a directory path,
   * `docker-image://ref` (the store, else the registry), `oci-layout://DIR[:tag]` or
   * `docker-archive://FILE[:ref]`. Usable in FROM and COPY --from by name.
   */
  buildContexts?: Readonly<Record<string, string>>;
  /** Exports besides the store, in buildx spelling (`type=oci,dest=out.tar`). */
  output?: string | OutputSpec | ReadonlyArray<string | OutputSpec>;
  /** Fetches ADD URLs; without it an ADD of a URL fails with `ADD_URL_NO_FETCHER`. */
  fetcher?: Fetcher;
  /** Secrets for `RUN --mount=type=secret`, by id. */
  secrets?: Readonly<Record<string, SecretSource>>;
  /** SSH agent sockets for `RUN --mount=type=ssh`, by id (`default`). */
  ssh?: Readonly<Record<string, string>>;
  /**
   * Compression of new layers (default gzip level 6 in 1 MiB blocks deflated
   * in parallel, random-looking stretches stored; `parallel: false` for one
   * gzip stream as BuildKit writes it). Part of every cache key.
   */
  compression?: LayerCompressionOptions;
  /**
   * Read extended attributes of context files (default true, as BuildKit
   * sends them; needs `getfattr`, see the build context docs). False skips
   * the `getfattr` runs, which cost a process start per batch of files; a
   * reader of your own replaces `getfattr` (for the build context and named
   * context directories).
   */
  xattrs?: boolean | XattrReader;
  /** Where new layers are staged while building (default the OS temp directory). */
  tmpDir?: string;
  /**
   * Entitlements granted to the Dockerfile, as BuildKit's `--allow`:
   * `network.host` lets `RUN --network=host` share the host's network
   * (other RUNs get a network namespace of their own); `security.insecure`
   * lets `RUN --security=insecure` run with every capability and unmasked
   * `/proc` and `/sys`. Without the entitlement such a RUN is an
   * `ENTITLEMENT_REQUIRED` error, also when the build cache has the step.
   *
   * @example
   * ```ts
   * await build({ context: '.', executor: sandboxExecutor(), allow: ['network.host'] });
   * ```
   */
  allow?: ReadonlyArray<Entitlement>;
}

/** An entitlement a build may grant (BuildKit's `--allow` values layerkit knows). */
export type Entitlement = 'network.host' | 'security.insecure';

/** One instruction as it ran. */
export interface BuildStep {
  /** The stage's name (`AS` name or `stage-N`). */
  stage: string;
  /** The instruction's text as written. */
  instruction: string;
  /** True when the result came from the build cache. */
  cached: boolean;
  /** The digest of the layer the step made, or null. */
  layer: string | null;
  durationMs: number;
}

/** What {@link build} returns. */
export interface BuildResult {
  image: Image;
  /** The manifest digest (what `docker buildx --push` prints, an OCI layout names); the index's for a multi-platform build. */
  digest: string;
  /** The config digest: the image ID. */
  imageId: string;
  /** The tags given, normalized (`docker.io/library/app:latest`). */
  tags: string[];
  steps: BuildStep[];
  /** The exports written, parsed. */
  outputs: OutputSpec[];
  /** Registry pushes made, with the manifest (or index) digest each names. */
  pushed: Array<{ reference: string; digest: string }>;
  /** True when the result went into the local store (false for a lazy push without `load`). */
  stored: boolean;
  /** Per platform, for a multi-platform build: each platform's image and its digests. */
  platforms?: Array<{ platform: Platform; image: Image; digest: string; imageId: string }>;
  /** What the build cache did (hits, misses, context files read, cache exports). */
  cache: CacheReport;
}
