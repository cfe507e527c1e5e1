/**
 * The build cache as one build uses it: the chain key of every stage as it
 * is built, a key and a lookup before each instruction, the replay of a
 * hit, the record of a miss, and the export and report at the end.
 *
 * The builder calls five methods: {@link CacheSession.beginStage} after a
 * stage's initial state is set up, {@link CacheSession.lookup} before an
 * (expanded) instruction runs, then either {@link CacheSession.replay} (a
 * hit) or {@link CacheSession.record} (after running it), and
 * {@link CacheSession.finish} / {@link CacheSession.close} at the end.
 * @module
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Instruction } from '../../dockerfile/instructions/types.js';
import { formatPlatform } from '../../image/platform.js';
import type { ImageStore } from '../../image/store/store.js';
import type { Layer } from '../../layers/layer.js';
import type { StatCache } from '../../context/stat-cache.js';
import { indexLayer } from '../../unionfs/layer-source.js';
import { storeIndexOptions } from './layer-index.js';
import type { BuildSession, StageRun, StepOutcome } from '../session-types.js';
import type { Fetcher } from '../options.js';
import { withIndex } from '../spool.js';
import type { StageState } from '../stage-state.js';
import type { SourceRef, StagePlan } from '../stages.js';
import { BuildCache, type BuildCacheOptions, type ImportedCache } from './cache.js';
import type { CacheOptions, CacheReport } from './cache-options.js';
import { baseKey, stepKeys, type BaseIdentity, type CacheKey, type KeySettings } from './key.js';
import { exportCache, importCache, type ExportEntry } from './layout.js';
import { imageIdentity, type CachedStep, type InputEnv } from './inputs.js';
import type { CacheRecord } from './records.js';
import { parseCacheFrom, parseCacheTo, type CacheFromSpec, type CacheToSpec } from './spec.js';
import {
  exportRegistryCache,
  importRegistryCache,
  isRegistryCacheSpec,
  parseRegistryCacheFrom,
  parseRegistryCacheTo,
  type RegistryCacheFromSpec,
  type RegistryCacheToSpec,
} from './registry-cache.js';
import { registryClient, type RegistryAccess } from '../remote-base.js';

export type { CacheOptions, CacheReport } from './cache-options.js';

/**
 * What the cache is told of a step by the builder (from the step's rules,
 * which the cache does not know): how to read its key inputs and what kind
 * of step it is.
 */
export interface StepKeying {
  /** Reads the step's key inputs; throwing makes it (and the rest of its stage) uncached. */
  inputs(env: InputEnv): Promise<unknown[]>;
  /** The inputs may be read after the step ran (from its own reads) without a second read. */
  keyAfterRun: boolean;
  /** The step's key does not chain on the file system below it (`COPY --link`). */
  independent: boolean;
  /** The step may look at the file system below it. */
  readsFs: boolean;
  /** The step stacks the whole file system below it (so every base layer is indexed after it). */
  stacks: boolean;
}

/**
 * A step's keys and, for a hit, what the cache holds. Without `keys`, the
 * inputs are read after the step ran ({@link CacheSession.record}): no record
 * can match, and a copy of context files then reads each file once, for the
 * layer and the key together.
 */
export interface StepLookup {
  /** The keys, when read before the step. */
  keys: { key: CacheKey; chain: CacheKey } | undefined;
  /** The record found, or undefined for a miss. */
  hit: Extract<CacheRecord, { kind: 'step' }> | undefined;
  /** The keys have (or will have) no record: the chain after this step is new. */
  fresh: boolean;
  readonly instruction: Instruction;
  readonly parent: CacheKey;
  readonly vars: string[];
  readonly platform: string;
  readonly lookups: boolean;
  readonly keying: StepKeying;
}

interface Used {
  stage: number;
  key: CacheKey;
  record: CacheRecord;
}

/** One build's use of the cache (see the module notes). */
export class CacheSession {
  readonly cache: BuildCache;
  readonly #options: CacheOptions;
  readonly #settings: KeySettings;
  readonly #to: Array<CacheToSpec | RegistryCacheToSpec>;
  readonly #registry: (() => import('../../registry/index.js').RegistryClient) | undefined;
  readonly #disposers: Array<() => Promise<void>> = [];
  readonly #chains = new WeakMap<StageState, CacheKey>();
  readonly #used: Used[] = [];
  readonly #memos = new Map<string, CacheRecord>();
  readonly #pending: Promise<void>[] = [];
  readonly #report: CacheReport = { hits: 0, misses: 0, contextFilesRead: 0, contextFilesReused: 0, exports: [], writeErrors: [] };
  readonly #filter: Set<string>;
  /**
   * Chain keys made in this build by steps that were looked up and had no
   * record. A key's record is written with its parent's, so none of their
   * children has one either (the first miss in a stage makes the rest miss).
   */
  readonly #fresh = new Set<CacheKey>();
  /** No record existed anywhere when the build started. */
  readonly #empty: boolean;
  /** Each stage's base layers, as its FROM gave them. */
  readonly #bases = new WeakMap<StageState, readonly Layer[]>();
  /** Per stage: saved indexes of its base layers remembered, and the layers that had none (saved after a step stacked them). */
  readonly #baseIndexes = new WeakMap<StageState, Promise<Layer[]>>();
  /** Per stage: layers of hits recorded before their kind had saved indexes (saved once a step stacked them). */
  readonly #unindexedHits = new WeakMap<StageState, Layer[]>();

  private constructor(cache: BuildCache, options: CacheOptions, settings: KeySettings, to: Array<CacheToSpec | RegistryCacheToSpec>, empty: boolean, registry?: () => import('../../registry/index.js').RegistryClient) {
    this.cache = cache;
    this.#registry = registry;
    this.#empty = empty;
    this.#options = options;
    this.#settings = settings;
    this.#to = to;
    this.#filter = new Set((options.noCacheFilter ?? []).map((s) => s.toLowerCase()));
  }

  /**
   * Opens the cache of `store` for one build: reads the specs (failing
   * before any work on a bad one) and the records of every `cacheFrom`.
   *
   * @throws {@link CacheError} `CACHE_INVALID_SPEC`, `CACHE_INVALID_LAYOUT`.
   * @example
   * ```ts
   * const cache = await CacheSession.open(store, { cacheFrom: 'type=local,src=ci-cache' }, { epoch: 0, compression: null });
   * ```
   */
  static async open(store: ImageStore, options: CacheOptions, settings: KeySettings, cacheOptions: BuildCacheOptions = {}): Promise<CacheSession> {
    const list = <T>(v: T | ReadonlyArray<T> | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? [...(v as T[])] : [v as T]);
    const from = list(options.cacheFrom).map((spec) => (isRegistryCacheSpec(spec) ? parseRegistryCacheFrom(spec as string | RegistryCacheFromSpec) : parseCacheFrom(spec as string | CacheFromSpec)));
    const to = list(options.cacheTo).map((spec) => (isRegistryCacheSpec(spec) ? parseRegistryCacheTo(spec as string | RegistryCacheToSpec) : parseCacheTo(spec as string | CacheToSpec)));
    // Registry caches reach the registry with the build's registry options.
    let client: import('../../registry/index.js').RegistryClient | undefined;
    const registry = () => (client ??= registryClient((options as { registry?: RegistryAccess }).registry));
    const cache = new BuildCache(store, cacheOptions);
    const disposers: Array<() => Promise<void>> = [];
    let imported = 0;
    try {
      for (const spec of from) {
        let records: ImportedCache;
        if (spec.type === 'registry') {
          const fromRegistry = await importRegistryCache(spec, registry(), join(cache.root, 'tmp'));
          disposers.push(fromRegistry.dispose);
          records = fromRegistry;
        } else {
          records = await importCache(spec);
        }
        imported += records.records.size;
        cache.addImport(records);
      }
    } catch (err) {
      for (const dispose of disposers) await dispose();
      throw err;
    }
    const session = new CacheSession(cache, options, settings, to, imported === 0 && !(await hasRecords(cache.root)), registry);
    session.#disposers.push(...disposers);
    return session;
  }

  /** The stat index of build contexts (give it to context checksums). */
  get statCache(): StatCache {
    return this.cache.statCache;
  }

  /** Whether steps of this stage may be looked up. */
  #lookups(plan: StagePlan): boolean {
    if (this.#options.noCache) return false;
    return !(this.#filter.has(plan.label.toLowerCase()) || (plan.stage.name !== undefined && this.#filter.has(plan.stage.name.toLowerCase())));
  }

  /** The chain key of a stage's state, if it has one (a step that could not be keyed ends the chain). */
  chainOf(state: StageState): CacheKey | undefined {
    return this.#chains.get(state);
  }

  /**
   * Keys a stage's initial state from what its FROM names. Called once the
   * state exists, before ONBUILD triggers and instructions.
   */
  async beginStage(session: BuildSession, plan: StagePlan, state: StageState): Promise<void> {
    let base: BaseIdentity | undefined;
    const named = plan.replacedBy ?? (plan.base.kind === 'context' ? plan.base.name : undefined);
    if (named !== undefined) {
      const dir = await session.namedDirectory(named);
      if (dir) base = { kind: 'context', checksum: await dir.checksum(await dir.resolveSources(['.']), { cache: this.cache.statCache }) };
      else base = { kind: 'image', digest: imageIdentity(await session.image(session.options.buildContexts?.[named] ?? named, plan.stage.from, plan.label, session.stagePlatform(plan))) };
    } else if (plan.base.kind === 'scratch') {
      base = { kind: 'scratch' };
    } else if (plan.base.kind === 'image') {
      base = { kind: 'image', digest: imageIdentity(await session.image(plan.base.ref, plan.stage.from, plan.label, session.stagePlatform(plan))) };
    } else if (plan.base.kind === 'stage') {
      const parent = this.#chains.get(await session.stage(plan.base.index));
      if (parent !== undefined) base = { kind: 'stage', key: parent };
    }
    // An image's layers come from the store or a registry: their saved indexes spare reading them.
    if (base?.kind === 'image') this.#bases.set(state, [...state.layers]);
    if (base === undefined) return;
    const key = baseKey(base, formatPlatform(state.platform));
    this.#chains.set(state, key);
    // A stage on a stage state no record knows is as new as that state.
    if (base.kind === 'stage' && this.#fresh.has(base.key)) this.#fresh.add(key);
  }

  /**
   * The keys of an expanded instruction about to run in `run`, and the
   * record when there is a hit. Returns undefined when the step cannot be
   * keyed (its inputs cannot be read: the step itself will report why) —
   * then it and the rest of its stage run uncached.
   */
  async lookup(run: StageRun, instruction: Instruction, keying: StepKeying): Promise<StepLookup | undefined> {
    if (keying.readsFs) await this.#baseIndexesOf(run.state);
    const parent = this.#chains.get(run.state);
    if (parent === undefined) return undefined;
    const lookups = this.#lookups(run.plan);
    // Only what changed since the parent's lookup: the parent's key already stands for the rest (linear in ENV lines).
    const vars = run.state.vars.takeChanges();
    const platform = formatPlatform(run.state.platform);
    const step = { instruction, parent, vars, platform, lookups, keying };
    if (keying.keyAfterRun) {
      // Its key needs every source hashed. When no record can match, the step goes first and
      // hashes the files as it reads them; the key is the same either way.
      const fresh = this.#empty || (!keying.independent && this.#fresh.has(parent));
      if (!lookups || fresh) return { ...step, keys: undefined, hit: undefined, fresh: lookups };
    }
    let keys: { key: CacheKey; chain: CacheKey };
    try {
      keys = await this.#keys(step);
    } catch {
      this.#chains.delete(run.state);
      return undefined;
    }
    let hit: Extract<CacheRecord, { kind: 'step' }> | undefined;
    if (lookups) {
      const record = await this.cache.get(keys.key);
      if (record?.kind === 'step') hit = record;
    }
    return { ...step, keys, hit, fresh: lookups };
  }

  async #keys(step: Omit<StepLookup, 'keys' | 'hit' | 'fresh'>): Promise<{ key: CacheKey; chain: CacheKey }> {
    const inputs = await step.keying.inputs(this.#inputEnv(step.lookups));
    return stepKeys({
      parent: step.parent,
      instruction: step.instruction,
      vars: step.vars,
      platform: step.platform,
      settings: this.#settings,
      inputs,
      independent: step.keying.independent,
    });
  }

  /**
   * Gives the stage's base layers their saved indexes before a step may
   * stack them: the first step that runs after cache hits (or in a build
   * without the cache) then reads entry lists, not the base's blobs. Once
   * per stage; returns the layers that had no saved index.
   */
  #baseIndexesOf(state: StageState): Promise<Layer[]> {
    let pending = this.#baseIndexes.get(state);
    if (!pending) {
      pending = (async () => {
        const missing: Layer[] = [];
        for (const [position, layer] of (this.#bases.get(state) ?? []).entries()) {
          const index = await this.cache.loadLayerIndex(layer, position).catch(() => undefined);
          if (index) state.useIndex(layer, index);
          else missing.push(layer);
        }
        return missing;
      })();
      this.#baseIndexes.set(state, pending);
    }
    return pending;
  }

  /** Saves the indexes of base and cached layers that had none, once a step indexed them all (no extra read). */
  async #saveBaseIndexes(state: StageState): Promise<void> {
    const missing = [...((await this.#baseIndexes.get(state))?.splice(0) ?? []), ...(this.#unindexedHits.get(state)?.splice(0) ?? [])];
    for (const layer of missing) await this.cache.saveIndex(await layer.digest(), await indexLayer(layer, await storeIndexOptions(this.cache.storeRoot)));
  }

  #inputEnv(lookups: boolean): InputEnv {
    return {
      statCache: this.cache.statCache,
      lookups,
      chainOf: (state) => this.#chains.get(state),
      recall: async (key) => this.#memos.get(key) ?? (await this.cache.get(key)),
      remember: (key, record) => {
        this.#memos.set(key, record);
        this.#write(this.cache.put(key, record));
      },
    };
  }

  /**
   * Takes a hit: loads the cached layer (read only if a later step needs the
   * files) with its saved index, for the step to replay on the stage.
   */
  async replay(run: StageRun, step: StepLookup): Promise<CachedStep> {
    if (!step.hit || !step.keys) throw new Error('CacheSession.replay: not a hit');
    const record = step.hit;
    let layer: CachedStep['layer'] = null;
    if (record.layer) {
      const index = await this.cache.loadIndex(record.layer, run.state.layers.length);
      const cached = this.cache.layer(record.layer);
      // A saved index travels with the layer: whoever holds it later (a push publishing indexes) reads no blob.
      layer = { digest: record.layer.digest, layer: index ? withIndex(cached, index) : cached, index };
      if (!index) this.#unindexedHits.set(run.state, [...(this.#unindexedHits.get(run.state) ?? []), cached]);
    }
    this.#chains.set(run.state, step.keys.chain);
    this.#used.push({ stage: run.plan.index, key: step.keys.key, record });
    this.#report.hits++;
    return { createdBy: record.createdBy, layer };
  }

  /**
   * Records what a step that ran produced. Keys not read before the step
   * are read now, from what it read. The blob is written in the background;
   * {@link finish} and {@link close} wait for it.
   */
  async record(run: StageRun, step: StepLookup | undefined, outcome: StepOutcome): Promise<void> {
    this.#report.misses++;
    if (!step) return;
    let keys = step.keys;
    if (!keys) {
      try {
        keys = await this.#keys(step);
      } catch {
        this.#chains.delete(run.state);
        return;
      }
    }
    const { key, chain } = keys;
    this.#chains.set(run.state, chain);
    if (step.fresh) this.#fresh.add(chain);
    const layer = outcome.layer ? (outcome.layer.layer ?? run.state.layers[run.state.layers.length - 1]) : undefined;
    // The step made the index as it wrote the layer: saving it reads nothing.
    const index = outcome.layer?.index;
    const write = (async () => {
      let record: CacheRecord = { kind: 'step', createdBy: outcome.createdBy, layer: null };
      if (layer) {
        const [digest, size, diffId] = await Promise.all([layer.digest(), layer.size(), layer.diffId()]);
        record = { ...record, layer: { mediaType: layer.mediaType, digest, size, diffId } };
      }
      this.#used.push({ stage: run.plan.index, key, record });
      await this.cache.put(key, record, layer);
      if (layer && index) await this.cache.saveIndex(record.layer!.digest, index);
    })();
    if (step.keying.stacks) this.#write(this.#saveBaseIndexes(run.state));
    this.#write(write);
  }

  /** Keeps a background write; a failure is reported, never thrown: the cache is an optimisation. */
  #write(promise: Promise<void>): void {
    this.#pending.push(
      promise.catch((err: unknown) => {
        this.#report.writeErrors.push((err as Error).message ?? String(err));
      }),
    );
  }

  /**
   * Waits for cache writes, exports this build's records to every
   * `cacheTo` (mode `min`: the stages the final image is made of — the
   * target and the stages it is built FROM; `max`: every stage built) and
   * returns the report.
   */
  async finish(session: BuildSession): Promise<CacheReport> {
    await Promise.all(this.#pending);
    const stats = this.cache.statCache.stats;
    this.#report.contextFilesRead = stats.misses;
    this.#report.contextFilesReused = stats.hits;
    if (this.#to.length > 0) {
      const chain = new Set<number>();
      for (let i: number | undefined = session.graph.target; i !== undefined && !chain.has(i); ) {
        chain.add(i);
        const base: SourceRef = session.graph.plans[i]!.base;
        i = base.kind === 'stage' ? base.index : undefined;
      }
      for (const spec of this.#to) {
        const entries: ExportEntry[] = this.#used.filter((u) => spec.mode === 'max' || chain.has(u.stage)).map(({ key, record }) => ({ key, record }));
        for (const [key, record] of this.#memos) entries.push({ key, record });
        const dest = spec.type === 'registry' ? spec.ref : spec.dest;
        try {
          const result = spec.type === 'registry'
            ? await exportRegistryCache(this.cache, entries, spec, this.#registry!(), join(this.cache.root, 'tmp'))
            : await exportCache(this.cache, entries, spec);
          this.#report.exports.push({ dest, ...result });
        } catch (err) {
          if (!spec.ignoreError) throw err;
          this.#report.writeErrors.push(`export to ${dest}: ${(err as Error).message}`);
        }
      }
    }
    return { ...this.#report, exports: [...this.#report.exports], writeErrors: [...this.#report.writeErrors] };
  }

  /**
   * After the image went into the store: cached blobs of its layers become
   * hard links to the store's files, so they take their space once.
   */
  async shareBlobs(layers: readonly Layer[]): Promise<void> {
    await this.cache.shareWithStore(await Promise.all(layers.map((l) => l.digest())));
  }

  /** Waits for pending writes and ends the lease on cached blobs. Call whatever happened. */
  async close(): Promise<void> {
    await Promise.all(this.#pending);
    for (const dispose of this.#disposers.splice(0)) await dispose().catch(() => undefined);
    await this.cache.close();
  }
}

/** Whether the cache directory holds any record (`records/<2 hex>/<key>.json`). */
async function hasRecords(root: string): Promise<boolean> {
  const shards = await readdir(join(root, 'records')).catch(() => [] as string[]);
  for (const shard of shards) if ((await readdir(join(root, 'records', shard)).catch(() => [] as string[])).length > 0) return true;
  return false;
}

/**
 * A fetcher that fetches each URL once per build: the cache key of an ADD
 * of a URL needs its bytes, and a miss then copies the same bytes.
 */
export function fetchOnce(fetcher: Fetcher | undefined): Fetcher | undefined {
  if (!fetcher) return undefined;
  const seen = new Map<string, ReturnType<Fetcher>>();
  return (url, options) => {
    let pending = seen.get(url);
    if (!pending) {
      pending = fetcher(url, options);
      seen.set(url, pending);
      pending.catch(() => seen.delete(url));
    }
    return pending;
  };
}

