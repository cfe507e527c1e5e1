/**
 * The outer init of a run on a terminal, with and without the owner
 * hand-back of a sandbox with subordinate ids: the attaching side finds it
 * either way and keeps the hand-back after the terminal's command.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { attachedArgv } from '../../src/containers/attach.js';
import { ownersBackScript } from '../../src/sandbox/id-map.js';
import { isTtyInit, ttyInit } from '../../src/sandbox/prepare-step.js';

const sh = '/bin/sh';

function runArgv(init: string): string[] {
  return ['/usr/bin/setpriv', '--pdeathsig', 'KILL', '--', '/usr/bin/unshare', '--pid', '--fork', '--', sh, '-c', init, 'init', '/usr/bin/unshare', '--mount', '--', sh, '-c', 'SETUP', 'sh', 'env', '-i', 'true'];
}

describe('the terminal init', () => {
  it('is found with any hand-back, and the hand-back runs after the command, before the exit', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.string(), (owned, owners) => {
        const handBack = ownersBackScript(`/s/${owned}`, `/s/${owners}`);
        const init = ttyInit(handBack);
        expect(isTtyInit(init)).toBe(true);
        const argv = attachedArgv({ argv: runArgv(init), sh, tty: true, statusFile: '/x/status' });
        expect(argv).toContain(init);
        expect(init.indexOf(handBack)).toBeGreaterThan(init.indexOf('script -qec'));
        expect(init.indexOf(handBack)).toBeLessThan(init.lastIndexOf('exit $code'));
      }),
      { numRuns: 50 },
    );
  });

  it('without a hand-back is the plain terminal init; no other argument passes for one', () => {
    expect(ttyInit()).toMatch(/script -qec "\$1" \/dev\/null; code=\$\?; exit \$code$/);
    expect(isTtyInit('"$@"; code=$?; exit $code')).toBe(false);
    expect(() => attachedArgv({ argv: runArgv('"$@"; code=$?; exit $code'), sh, tty: true, statusFile: '/x/status' })).toThrow(/not prepared for a terminal/);
  });
});
