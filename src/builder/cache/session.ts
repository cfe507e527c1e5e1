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
import { indexLayer, rememberIndex } from '../../unionfs/layer-source.js';
import type { BuildSession } from '../session-types.js';
import type { Fetcher } from '../options.js';
import type { StageState } from '../stage-state.js';
import type { SourceRef, StagePlan } from '../stages.js';
import type { StageRun, StepOutcome } from '../steps/context.js';
import { applyMetadata, METADATA_KINDS } from '../steps/metadata.js';
import { workdirPath } from '../steps/workdir.js';
import { BuildCache, type BuildCacheOptions, type ImportedCache } from './cache.js';
import type { CacheOptions, CacheReport } from './cache-options.js';
import { baseKey, stepKeys, type BaseIdentity, type CacheKey, type KeySettings } from './key.js';
import { exportCache, importCache, type ExportEntry, type ExportResult } from './layout.js';
import { imageIdentity, isIndependent, stepInputs, type InputEnv } from './inputs.js';
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
 * Steps whose new layer's index is saved with its record: the builder
 * indexed it already (from its entries, or a RUN's from its staged blob
 * right after the step), so saving it reads nothing.
 */
const SAVED_INDEX_KINDS = new Set<Instruction['kind']>(['copy', 'add', 'workdir', 'run']);

/** Steps that stack the whole file system below them (so every base layer is indexed after them). */
const STACKING_KINDS = new Set<Instruction['kind']>(['run', 'workdir']);

/** Steps that may look at the file system below them. */
const FS_KINDS = new Set<Instruction['kind']>(['copy', 'add', 'run', 'workdir']);

/**
 * A step's keys and, for a hit, what the cache holds — or, when no record can
 * match, what its keys will be computed from once it has run (`deferred`):
 * a COPY of context files then reads each file once, for the layer and the
 * key together, instead of hashing every source before copying.
 */
export type StepLookup =
  | {
      /** The instruction's kind. */
      kind: Instruction['kind'];
      key: CacheKey;
      chain: CacheKey;
      /** The record found, or undefined for a miss. */
      hit: Extract<CacheRecord, { kind: 'step' }> | undefined;
      /** True when the key was looked up (and, without a hit, is known to have no record). */
      lookedUp: boolean;
      deferred?: undefined;
    }
  | {
      kind: Instruction['kind'];
      hit: undefined;
      /** Keyed after the step ran ({@link CacheSession.record}), from what it read. */
      deferred: DeferredKey;
    };

/** What a deferred key is computed from: the state as the step found it. */
export interface DeferredKey {
  instruction: Instruction;
  parent: CacheKey;
  vars: string[];
  platform: string;
  lookups: boolean;
  /** Why no record can match: the key would have no record (false: lookups are off). */
  fresh: boolean;
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
  async lookup(run: StageRun, instruction: Instruction): Promise<StepLookup | undefined> {
    if (FS_KINDS.has(instruction.kind)) await this.#baseIndexesOf(run.state);
    const parent = this.#chains.get(run.state);
    if (parent === undefined) return undefined;
    const lookups = this.#lookups(run.plan);
    // Only what changed since the parent's lookup: the parent's key already stands for the rest (linear in ENV lines).
    const vars = run.state.vars.takeChanges();
    const platform = formatPlatform(run.state.platform);
    if (readsContext(instruction)) {
      // Its key needs every source hashed. When no record can match, the copy goes first and
      // hashes the files as it reads them; the key is the same either way.
      const fresh = this.#empty || (!isIndependent(instruction) && this.#fresh.has(parent));
      if (!lookups || fresh) return { kind: instruction.kind, hit: undefined, deferred: { instruction, parent, vars, platform, lookups, fresh: lookups } };
    }
    let inputs: unknown[];
    try {
      inputs = await stepInputs(run, instruction, this.#inputEnv(lookups));
    } catch {
      this.#chains.delete(run.state);
      return undefined;
    }
    const { key, chain } = stepKeys({
      parent,
      instruction,
      vars,
      platform,
      settings: this.#settings,
      inputs,
      independent: isIndependent(instruction),
    });
    let hit: Extract<CacheRecord, { kind: 'step' }> | undefined;
    if (lookups) {
      const record = await this.cache.get(key);
      if (record?.kind === 'step') hit = record;
    }
    return { kind: instruction.kind, key, chain, hit, lookedUp: lookups };
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
          if (index) rememberIndex(layer, index);
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
    for (const layer of missing) await this.cache.saveIndex(await layer.digest(), await indexLayer(layer));
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
   * Applies a hit to the stage: the cached layer goes on top (read only if
   * a later step needs the files), config changes are made again from the
   * instruction (they follow from it and the state before, which the key
   * covers). Returns the step's outcome as if it had run.
   */
  async replay(run: StageRun, instruction: Instruction, step: StepLookup): Promise<StepOutcome> {
    if (step.deferred || !step.hit) throw new Error('CacheSession.replay: not a hit');
    const record = step.hit;
    let outcome: StepOutcome;
    if (METADATA_KINDS.has(instruction.kind)) {
      outcome = applyMetadata(run, instruction);
    } else {
      if (instruction.kind === 'workdir') run.state.container.WorkingDir = workdirPath(run.state.container.WorkingDir, instruction.path);
      outcome = { createdBy: record.createdBy, layer: null };
      if (record.layer) {
        const index = await this.cache.loadIndex(record.layer, run.state.layers.length);
        const layer = this.cache.layer(record.layer);
        run.state.addLayer(layer, index);
        if (!index) this.#unindexedHits.set(run.state, [...(this.#unindexedHits.get(run.state) ?? []), layer]);
        outcome.layer = { digest: record.layer.digest };
      }
    }
    this.#chains.set(run.state, step.chain);
    this.#used.push({ stage: run.plan.index, key: step.key, record });
    this.#report.hits++;
    return { ...outcome, cached: true };
  }

  /**
   * Records what a step that ran produced (its layer is the stage's newest
   * when `outcome.layer` is set). A deferred key is computed now, from what
   * the step read. The blob is written in the background; {@link finish} and
   * {@link close} wait for it.
   */
  async record(run: StageRun, step: StepLookup | undefined, outcome: StepOutcome): Promise<void> {
    this.#report.misses++;
    if (!step) return;
    let keys: { key: CacheKey; chain: CacheKey };
    let fresh: boolean;
    if (step.deferred) {
      const { instruction, parent, vars, platform, lookups } = step.deferred;
      let inputs: unknown[];
      try {
        inputs = await stepInputs(run, instruction, this.#inputEnv(lookups));
      } catch {
        this.#chains.delete(run.state);
        return;
      }
      keys = stepKeys({ parent, instruction, vars, platform, settings: this.#settings, inputs, independent: isIndependent(instruction) });
      fresh = step.deferred.fresh;
    } else {
      keys = step;
      fresh = step.lookedUp;
    }
    this.#chains.set(run.state, keys.chain);
    if (fresh) this.#fresh.add(keys.chain);
    const layer = outcome.layer ? run.state.layers[run.state.layers.length - 1] : undefined;
    const kind = step.kind;
    const write = (async () => {
      let record: CacheRecord = { kind: 'step', createdBy: outcome.createdBy, layer: null };
      if (layer) {
        const [digest, size, diffId] = await Promise.all([layer.digest(), layer.size(), layer.diffId()]);
        record = { ...record, layer: { mediaType: layer.mediaType, digest, size, diffId } };
      }
      this.#used.push({ stage: run.plan.index, key: keys.key, record });
      await this.cache.put(keys.key, record, layer);
      // The builder remembers the index of layers it made from entries: saving it costs no reading.
      if (layer && SAVED_INDEX_KINDS.has(kind)) await this.cache.saveIndex(record.layer!.digest, await indexLayer(layer));
    })();
    if (STACKING_KINDS.has(kind)) this.#write(this.#saveBaseIndexes(run.state));
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

/**
 * A COPY/ADD whose key hashes build-context files (context sources, no
 * `--from`, no `--parents`) and whose other inputs do not depend on the
 * state the step leaves: an independent copy with `--chown=<name>` resolves
 * the name in the stage, which the copy itself may change, so it is keyed
 * before it runs.
 */
function readsContext(instruction: Instruction): boolean {
  if (instruction.kind !== 'copy' && instruction.kind !== 'add') return false;
  if (instruction.kind === 'copy' && (instruction.from !== undefined || instruction.parents === true)) return false;
  const chown = instruction.chown;
  if (isIndependent(instruction) && chown !== undefined && chown !== '' && !/^[0-9]+(:[0-9]+)?$/.test(chown)) return false;
  return instruction.sources.some((s) => !s.startsWith('http://') && !s.startsWith('https://'));
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

