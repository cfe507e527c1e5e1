/**
 * `containerLogs` on a container directory made by hand (a running
 * container: this process is its supervisor), so that what reaches the log
 * between two reads is under the test's control.
 */
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ContainerRuntime } from '../../src/containers/runtime.js';
import { containerLogs } from '../../src/containers/verbs.js';

const ID = 'a'.repeat(64);
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A running container `logged` with empty timed logs; returns the runtime and the container's directory. */
function fakeContainer(): { runtime: ContainerRuntime; dir: string } {
  const root = mkdtempSync(join(tmpdir(), 'lk-logs-'));
  dirs.push(root);
  const dir = join(root, ID);
  mkdirSync(dir);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ id: ID, name: 'logged', created: new Date().toISOString() }));
  writeFileSync(join(dir, 'state.json'), JSON.stringify({ supervisorPid: process.pid, startedAt: new Date().toISOString() }));
  for (const s of ['stdout', 'stderr']) {
    writeFileSync(join(dir, `${s}.log`), '');
    writeFileSync(join(dir, `${s}.log.times`), '');
  }
  return { runtime: { root } as ContainerRuntime, dir };
}

const nowNs = () => BigInt(Date.now()) * 1_000_000n;

function append(dir: string, text: string, time: bigint): void {
  const size = statSync(join(dir, 'stdout.log')).size;
  appendFileSync(join(dir, 'stdout.log.times'), `${size} ${time}\n`);
  appendFileSync(join(dir, 'stdout.log'), text);
}

describe('containerLogs -f --until', () => {
  it('shows the lines stamped up to --until that came after the last read before it stopped', async () => {
    const { runtime, dir } = fakeContainer();
    const until = nowNs() + 300_000_000n;
    append(dir, 'first\n', nowNs());
    const out: string[] = [];
    await containerLogs(
      runtime,
      'logged',
      (_stream, bytes) => {
        const text = Buffer.from(bytes).toString();
        out.push(text);
        if (text === 'first\n') {
          // Written (and stamped) before --until, right after a read; then --until passes.
          append(dir, 'second\n', nowNs());
          while (nowNs() <= until) {
            /* wait for --until to pass */
          }
          append(dir, 'third\n', nowNs());
        }
      },
      { follow: true, until, intervalMs: 20 },
    );
    expect(out.join('')).toBe('first\nsecond\n');
  });
});
