/**
 * Reading a layer's entries into a plan: which paths it writes, which lower
 * paths it whites out, which directories it makes opaque. Shared by the
 * in-memory `apply` and the on-disk `extractLayer`, so both refuse the same
 * layers for the same reasons.
 * @module
 */
import type { Entry } from '../entry.js';
import { ancestorPaths, normalizePath, type NormalizePathOptions } from '../path.js';
import { DuplicatePathError, InvalidEntryError, UnsafePathError } from '../errors.js';
import { LayerFormatError } from './errors.js';
import { classifyPath } from './whiteout.js';

/** A layer, classified. */
export interface LayerPlan {
  /** Entries that are neither whiteouts nor hardlinks, in walk order. */
  entries: Entry[];
  /** Hardlink entries (`linkname` normalized), in walk order. */
  hardlinks: Entry[];
  /** Paths whited out (`.wh.<name>` → `<dir>/<name>`). */
  whiteouts: string[];
  /** Directories with an opaque marker. */
  opaques: string[];
  /** Every path the layer writes (entries and hardlinks) → its entry. */
  written: Map<string, Entry>;
}

/** How a name was classified by {@link PlanBuilder.add}. */
export type PlanKind = 'entry' | 'hardlink' | 'whiteout' | 'opaque';

/** Collects entries one by one (as a tar streams by) and checks the whole at the end. */
export class PlanBuilder {
  readonly #seen = new Set<string>();
  readonly #plan: LayerPlan = { entries: [], hardlinks: [], whiteouts: [], opaques: [], written: new Map() };
  readonly #names: NormalizePathOptions;

  constructor(names: NormalizePathOptions = {}) {
    this.#names = names;
  }

  /**
   * Adds one entry. `name` is the name as the layer spells it (for errors and
   * path cleaning); it defaults to `entry.path`. Returns the entry with its
   * normalized path and how it was classified.
   */
  add(entry: Entry, name: string = entry.path): { kind: PlanKind; entry: Entry } {
    const path = normalizePath(name, this.#names);
    if (this.#seen.has(path)) throw new DuplicatePathError(name);
    this.#seen.add(path);
    const what = classifyPath(path);
    if (path !== entry.path) entry = { ...entry, path };
    if (what.kind === 'whiteout') {
      this.#plan.whiteouts.push(what.target);
      return { kind: 'whiteout', entry };
    }
    if (what.kind === 'opaque') {
      this.#plan.opaques.push(what.dir);
      return { kind: 'opaque', entry };
    }
    if (entry.type === 'hardlink') {
      if (!entry.linkname) throw new InvalidEntryError(name, 'hardlink without a target');
      const target = normalizePath(entry.linkname, { absolute: 'strip' });
      if (target !== entry.linkname) entry = { ...entry, linkname: target };
      if (target === path) throw new InvalidEntryError(name, 'hardlink to itself');
      this.#plan.hardlinks.push(entry);
      this.#plan.written.set(path, entry);
      return { kind: 'hardlink', entry };
    }
    if (path === '/' && entry.type !== 'dir') throw new InvalidEntryError(name, 'the root must be a directory');
    if (entry.type === 'symlink' && !entry.linkname) throw new InvalidEntryError(name, 'symlink without a target');
    this.#plan.entries.push(entry);
    this.#plan.written.set(path, entry);
    return { kind: 'entry', entry };
  }

  /**
   * Finishes the plan: sorts it and refuses an entry below a non-directory
   * entry of the same layer (`a` a file and `a/b`).
   */
  finish(): LayerPlan {
    const plan = this.#plan;
    const byPath = (a: Entry, b: Entry) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
    plan.entries.sort(byPath);
    plan.hardlinks.sort(byPath);
    const below = [...plan.written.keys(), ...plan.whiteouts.map((p) => p), ...plan.opaques.map((d) => `${d}/.`)];
    for (const path of below) {
      for (const dir of ancestorPaths(path)) {
        const parent = plan.written.get(dir);
        if (parent?.type === 'symlink') throw new UnsafePathError(path, `ancestor ${dir} is a symlink in the same layer`);
        if (parent && parent.type !== 'dir') {
          throw new LayerFormatError('NOT_A_DIRECTORY', path, `${dir} is a ${parent.type} in the same layer`);
        }
      }
    }
    return plan;
  }
}
