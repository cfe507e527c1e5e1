/**
 * One in-flight or settled promise per key: the facility behind "index this
 * layer once", "probe this registry once", "look these credentials up once".
 * @module
 */

/** The maps {@link memoPromise} keeps promises in: a `Map`, or a `WeakMap` for object keys. */
export interface PromiseMemo<K, V> {
  get(key: K): Promise<V> | undefined;
  set(key: K, value: Promise<V>): unknown;
  delete(key: K): boolean;
}

/**
 * The promise `memo` holds for `key`, made by `make` the first time it is
 * asked for: callers asking at the same time share one promise, and a
 * rejected promise is forgotten, so the next caller tries again instead of
 * getting the old failure forever.
 *
 * @example
 * ```ts
 * const probes = new Map<string, Promise<string>>();
 * const base = (domain: string) => memoPromise(probes, domain, () => probe(domain));
 * ```
 */
export function memoPromise<K, V>(memo: PromiseMemo<K, V>, key: K, make: () => Promise<V>): Promise<V> {
  let pending = memo.get(key);
  if (pending === undefined) {
    pending = make();
    memo.set(key, pending);
    pending.catch(() => memo.delete(key));
  }
  return pending;
}
