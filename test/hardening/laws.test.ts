/**
 * Laws the hardening code relies on, checked with fast-check:
 * - a step's cache key hashes only `VarList.takeChanges()`; that is sound
 *   because replaying every batch of changes, in order, onto the starting
 *   variables gives the variables as they are (and clones carry what was
 *   not taken yet);
 * - every scratch name names its owner, whatever the prefix.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VarList } from '../../src/builder/scope.js';
import { ownerTag, scratchName, scratchOwner } from '../../src/image/store/scratch.js';

type Op = { kind: 'set'; name: string; value: string } | { kind: 'delete'; name: string } | { kind: 'take' } | { kind: 'clone' };

const name = fc.constantFrom('A', 'B', 'PATH', 'HOME', 'X_1');
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), name, value: fc.string({ maxLength: 6 }) }),
  fc.record({ kind: fc.constant('delete' as const), name }),
  fc.constant({ kind: 'take' as const }),
  fc.constant({ kind: 'clone' as const }),
);

/** Applies taken changes (`K=V` sets, `K` deletes) to a plain map. */
function replay(into: Map<string, string>, changes: string[]): void {
  for (const c of changes) {
    const eq = c.indexOf('=');
    if (eq < 0) into.delete(c);
    else into.set(c.slice(0, eq), c.slice(eq + 1));
  }
}

describe('VarList.takeChanges', () => {
  it('replaying every batch taken onto the start reproduces the variables', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(name, fc.string({ maxLength: 6 })), { maxLength: 5 }), fc.array(op, { maxLength: 40 }), (start, ops) => {
        let vars = new VarList(start);
        const replayed = new Map(start);
        vars.takeChanges();
        for (const o of ops) {
          if (o.kind === 'set') vars.set(o.name, o.value);
          else if (o.kind === 'delete') vars.delete(o.name);
          else if (o.kind === 'take') replay(replayed, vars.takeChanges());
          else vars = vars.clone();
        }
        replay(replayed, vars.takeChanges());
        expect(Object.fromEntries(replayed)).toEqual(Object.fromEntries(vars.toList().map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])));
        expect(vars.takeChanges()).toEqual([]);
      }),
    );
  });

  it('toList is a fresh snapshot after every change', () => {
    const vars = new VarList([['A', '1']]);
    const before = vars.toList();
    vars.set('B', '2');
    expect(before).toEqual(['A=1']);
    expect(vars.toList()).toEqual(['A=1', 'B=2']);
  });
});

describe('scratch names', () => {
  it('name this process as their owner, whatever the prefix', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^\.?[a-z0-9][a-z0-9.-]{0,20}$/), (prefix) => {
        const owner = scratchOwner(scratchName(prefix));
        expect(owner?.tag).toBe(ownerTag());
        expect(owner?.pid).toBe(process.pid);
      }),
    );
  });
});
