/**
 * The environments a word can be expanded against.
 * @module
 */

/**
 * Anything with a `get` that answers `undefined` for an unset name — a `Map` fits.
 * @example
 * ```ts
 * const fromProcess: EnvLookup = { get: (name) => process.env[name] };
 * new ShellLex().processWord('$HOME', fromProcess);
 * ```
 */
export interface EnvLookup {
  get(name: string): string | undefined;
}

/**
 * An environment for expansion, in any of three shapes:
 *
 * - a `Map<string, string>` (or any {@link EnvLookup});
 * - a plain record `{ NAME: 'value' }` (only own properties count, so
 *   `constructor` or `__proto__` are never found by accident);
 * - a `K=V` list as in a process environment or an image config's `Env`:
 *   later entries win, and an entry without `=` sets the name to `""`
 *   (BuildKit's `EnvsFromSlice`).
 *
 * A name set to `""` is *set*: `${NULL-x}` gives `""`, `${NULL:-x}` gives `x`.
 * Names are case-sensitive, as on Linux.
 * @example
 * ```ts
 * const lex = new ShellLex();
 * lex.processWord('$A', new Map([['A', '1']])); // '1'
 * lex.processWord('$A', { A: '1' });            // '1'
 * lex.processWord('$A', ['A=0', 'A=1']);        // '1' (the last one wins)
 * ```
 */
export type ShellEnv = EnvLookup | Readonly<Record<string, string>> | readonly string[];

const listCache = new WeakMap<readonly string[], Map<string, string>>();

/**
 * Parses a `K=V` list; later entries win, an entry without `=` sets `""`.
 * @example
 * ```ts
 * envFromList(['PATH=/bin', 'DEBUG', 'PATH=/usr/bin']); // Map { 'PATH' => '/usr/bin', 'DEBUG' => '' }
 * ```
 */
export function envFromList(list: readonly string[]): Map<string, string> {
  const env = new Map<string, string>();
  for (const entry of list) {
    const eq = entry.indexOf('=');
    if (eq < 0) env.set(entry, '');
    else env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return env;
}

/** Turns any {@link ShellEnv} into a lookup function. */
export function envLookup(env: ShellEnv): (name: string) => string | undefined {
  if (Array.isArray(env)) {
    const list = env as readonly string[];
    let map = listCache.get(list);
    if (!map) {
      map = envFromList(list);
      // Only cache frozen lists: a mutable array could change between calls.
      if (Object.isFrozen(list)) listCache.set(list, map);
    }
    const found = map;
    return (name) => found.get(name);
  }
  const maybeLookup = env as Partial<EnvLookup>;
  if (typeof maybeLookup.get === 'function') {
    const lookup = env as EnvLookup;
    return (name) => lookup.get(name);
  }
  const record = env as Readonly<Record<string, string>>;
  return (name) => (Object.hasOwn(record, name) ? record[name] : undefined);
}
