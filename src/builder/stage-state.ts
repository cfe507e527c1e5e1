/**
 * The state of a stage while its instructions run: the image config being
 * built, its layers, the variables in scope, and a lazily built union view
 * of its file system.
 * @module
 */
import { sha256 } from '../digest.js';
import type { ArgDefinition } from '../dockerfile/instructions/types.js';
import type { Entry } from '../layers/entry.js';
import type { Layer } from '../layers/layer.js';
import type { History, ImageConfig, Platform } from '../image/types.js';
import { LayerIndex } from '../unionfs/layer-index.js';
import { indexLayer } from '../unionfs/layer-source.js';
import { LowerStack } from '../unionfs/lower-stack.js';
import { UnionFS } from '../unionfs/union.js';
import { VarList } from './scope.js';
import { knownIndex } from './spool.js';

/** The digest of a layer stack's diffIDs, in order: what a file system is made of. */
export async function chainKey(layers: readonly Layer[]): Promise<string> {
  const ids = await Promise.all(layers.map((l) => l.diffId()));
  return sha256(ids.join(' '));
}

/** Bytes of layer file bodies an index keeps in memory before it spools them (see `indexOptions`). */
const INDEX_MEMORY = 8 * 2 ** 20;

/** Name → position in an `Env` array that {@link StageState.setEnv} maintains (a new array starts a new map). */
const envIndex = new WeakMap<string[], Map<string, number>>();

/** A stage being built (or built). */
export class StageState {
  /** The config as it will be written (no `created` until export). */
  config: ImageConfig;
  readonly layers: Layer[];
  /** Beside each layer, its index when the build knows it (made as the layer was written, or a saved one). */
  readonly #indexes: Array<LayerIndex | undefined>;
  /** Variables for expansion and RUN: the image's ENV, then ARGs and ENVs as met. */
  vars: VarList;
  /** ARGs declared in the stage so far, with their values (for RUN's history text). */
  readonly args: Array<{ key: string; value: string | undefined }> = [];
  readonly platform: Platform;
  /** Set once the stage's last instruction ran. */
  done = false;
  #stack: Promise<LowerStack> | undefined;
  /** How many of `layers` `#stack` holds: layers added since are applied when the stack is next asked for. */
  #stacked = 0;
  readonly #spoolDir: string | undefined;

  /** `indexes`: known indexes of `layers`, position by position (a parent stage's). */
  constructor(config: ImageConfig, layers: readonly Layer[], platform: Platform, spoolDir?: string, indexes: ReadonlyArray<LayerIndex | undefined> = []) {
    this.config = config;
    this.layers = [...layers];
    this.#indexes = this.layers.map((_, i) => indexes[i]);
    this.vars = VarList.fromList(config.config?.Env ?? []);
    this.platform = platform;
    this.#spoolDir = spoolDir;
  }

  /** The container config, created on first use. */
  get container(): NonNullable<ImageConfig['config']> {
    this.config.config ??= {};
    return this.config.config;
  }

  /**
   * `ENV key=value`: replaces the first `key` entry of the config's `Env`
   * (BuildKit's `addEnv`) or appends one, and sets the variable. The name
   * positions are remembered beside the array, so each ENV costs the same
   * however many came before (a copy and a search per line made 20,000 ENV
   * lines quadratic).
   */
  setEnv(key: string, value: string): void {
    const env = (this.container.Env ??= []);
    let index = envIndex.get(env);
    if (!index) {
      index = new Map();
      for (const [i, e] of env.entries()) {
        const eq = e.indexOf('=');
        const name = eq < 0 ? e : e.slice(0, eq);
        if (!index.has(name)) index.set(name, i);
      }
      envIndex.set(env, index);
    }
    const at = index.get(key);
    if (at !== undefined && at < env.length) env[at] = `${key}=${value}`;
    else {
      index.set(key, env.length);
      env.push(`${key}=${value}`);
    }
    this.vars.set(key, value);
  }

  get history(): History[] {
    this.config.history ??= [];
    return this.config.history;
  }

  /** The stage's file system as a stack of layer indexes (base layers read once, on first use). */
  stack(): Promise<LowerStack> {
    const from = this.#stack === undefined ? 0 : this.#stacked;
    if (this.#stack === undefined || from < this.layers.length) {
      // Layers are applied here rather than when added: a stage's last layer (often a COPY of
      // the whole context) is seldom read by a later step, and its merged tree was the build's
      // largest live object (57 MB of 142 MB after a 100,000-file COPY).
      const to = this.layers.length;
      const below = this.#stack ?? Promise.resolve(LowerStack.empty());
      this.#stacked = to;
      this.#stack = below.then(async (stack) => {
        for (let i = from; i < to; i++) {
          stack = stack.withLayer(this.#indexes[i] ?? (await indexLayer(this.layers[i]!, this.indexOptions())));
        }
        return stack;
      });
    }
    return this.#stack;
  }

  /**
   * How base layers are indexed: small bodies in memory up to 8 MiB, the
   * rest in a spool file of the build's scratch directory. A RUN step reads
   * `/etc/passwd` through the view, which indexes a whole base image; with
   * the default 64 MiB of bodies in memory, a RUN on a 150 MB base went past
   * a 256 MiB peak.
   */
  indexOptions(): { memoryBudget: number; spoolDir?: string } {
    return this.#spoolDir === undefined ? { memoryBudget: INDEX_MEMORY } : { memoryBudget: INDEX_MEMORY, spoolDir: this.#spoolDir };
  }

  /** A read-only view of the file system as it stands (writes go to a throwaway upper). */
  async view(): Promise<UnionFS> {
    return new UnionFS(await this.stack());
  }

  /** The indexes known beside the layers, position by position (for a stage built on this one). */
  indexes(): Array<LayerIndex | undefined> {
    return [...this.#indexes];
  }

  /**
   * Gives base layers an index the build found for them (a saved one), used
   * when the stack is built. No effect once the stack exists.
   */
  useIndex(layer: Layer, index: LayerIndex): void {
    for (const [i, l] of this.layers.entries()) if (l === layer) this.#indexes[i] ??= index;
  }

  /** The index of a layer about to be made from `entries` on top of this stage (no re-reading later). */
  entriesIndex(entries: readonly Entry[]): LayerIndex {
    return LayerIndex.fromEntries(entries, { position: this.layers.length });
  }

  /**
   * Adds a layer with its index: the one given, else the one the layer
   * carries (a staged or replayed layer), else read on demand. The stack
   * takes it when next asked for.
   */
  addLayer(layer: Layer, index: LayerIndex | undefined = knownIndex(layer)): void {
    this.layers.push(layer);
    this.#indexes.push(index);
  }

  /** Replaces the stack after a union view committed a layer on top of it. */
  setStack(stack: LowerStack): void {
    this.#stack = Promise.resolve(stack);
    this.#stacked = this.layers.length;
  }

  /** An identity of the file system: the digest of the layers' diffIDs, in order. */
  async chainKey(): Promise<string> {
    return chainKey(this.layers);
  }

  /** The `|N K=V …` prefix of RUN history entries: ARGs of the stage with their current values. */
  argsForHistory(): ArgDefinition[] {
    return this.args.map((a) => (a.value === undefined ? { key: a.key } : { key: a.key, value: a.value }));
  }
}
