/**
 * The build progress display: buildx's plain lines and the tty frame redrawn
 * in place, driven by synthetic events, a fake clock and a small terminal
 * emulator that applies the ANSI codes the display writes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BuildEvent, StepRef } from '../../src/builder/events.js';
import { createProgress, resolveProgressMode, stderrWriter, type ProgressClock } from '../../src/cli/progress.js';
import { terminalOf } from '../../src/cli/terminal.js';
import { processIo, type CliIo } from '../../src/cli/io.js';

/** A clock whose time moves only when the test says so; `tick` runs the redraw timer. */
class FakeClock implements ProgressClock {
  time = 1_000;
  readonly timers = new Set<() => void>();
  now(): number {
    return this.time;
  }
  every(_ms: number, fn: () => void): () => void {
    this.timers.add(fn);
    return () => this.timers.delete(fn);
  }
  advance(ms: number): void {
    this.time += ms;
  }
  tick(ms = 100): void {
    this.advance(ms);
    for (const fn of this.timers) fn();
  }
}

/**
 * A terminal: printable text overwrites cells, `\n` goes to the start of the
 * next line, and the CSI codes the display uses move the cursor and erase.
 * Anything else is an error, so the display cannot write codes this screen
 * does not understand.
 */
class Screen {
  lines: string[] = [''];
  row = 0;
  col = 0;
  cursorVisible = true;

  write(text: string): void {
    for (let i = 0; i < text.length; ) {
      const ch = text[i]!;
      if (ch === '\x1b') {
        const match = /^\x1b\[(\??)(\d*)([A-Za-z])/.exec(text.slice(i));
        if (!match) throw new Error(`unknown escape at ${JSON.stringify(text.slice(i, i + 8))}`);
        this.#csi(match[1]!, match[2]!, match[3]!);
        i += match[0].length;
        continue;
      }
      if (ch === '\n') {
        this.row++;
        this.col = 0;
        while (this.lines.length <= this.row) this.lines.push('');
      } else if (ch === '\r') {
        this.col = 0;
      } else {
        const cp = text.codePointAt(i)!;
        const char = String.fromCodePoint(cp);
        const cells = [...this.lines[this.row]!];
        while (cells.length < this.col) cells.push(' ');
        cells[this.col] = char;
        this.lines[this.row] = cells.join('');
        this.col++;
        i += char.length;
        continue;
      }
      i++;
    }
  }

  #csi(privateMarker: string, arg: string, code: string): void {
    if (privateMarker === '?') {
      if (arg !== '25' || (code !== 'l' && code !== 'h')) throw new Error(`unknown private code ${arg}${code}`);
      this.cursorVisible = code === 'h';
      return;
    }
    const n = arg === '' ? 1 : Number(arg);
    switch (code) {
      case 'A':
        this.row = Math.max(0, this.row - n);
        break;
      case 'K':
        if (arg !== '2') throw new Error(`unknown erase ${arg}K`);
        this.lines[this.row] = '';
        break;
      case 'J':
        this.lines[this.row] = [...this.lines[this.row]!].slice(0, this.col).join('');
        this.lines.length = this.row + 1;
        break;
      default:
        throw new Error(`unknown code ${arg}${code}`);
    }
  }

  /** The screen's text, trailing empty lines left out. */
  text(): string[] {
    const out = this.lines.map((l) => l.trimEnd());
    while (out.length > 0 && out.at(-1) === '') out.pop();
    return out;
  }
}

const enc = new TextEncoder();

function step(index: number, instruction: string, stage = 'build', total = 3): StepRef {
  return { stage, index, total, instruction, line: index + 1 };
}

const output = (ref: StepRef, text: string | Uint8Array): BuildEvent => ({
  type: 'output',
  step: ref,
  stream: 'stdout',
  chunk: typeof text === 'string' ? enc.encode(text) : text,
});
const start = (ref: StepRef): BuildEvent => ({ type: 'step-start', step: ref });
const end = (ref: StepRef, cached = false): BuildEvent => ({ type: 'step-end', step: ref, cached, layer: null, durationMs: 0 });

describe('plain progress', () => {
  it('prints buildx plain lines: #N per step, output stamped with seconds, CACHED and DONE', () => {
    const clock = new FakeClock();
    let out = '';
    const display = createProgress('plain', { write: (t) => void (out += t), isTTY: false }, { clock });
    const copy = step(1, 'COPY . /src');
    const run = step(2, 'RUN make');
    display.onEvent({ type: 'build-start', stages: ['build'], target: 'build' });
    display.onEvent(start(copy));
    display.onEvent(end(copy, true));
    display.onEvent(start(run));
    clock.advance(250);
    display.onEvent(output(run, 'cc -c a.c\ncc -c '));
    clock.advance(1000);
    display.onEvent(output(run, 'b.c\n'));
    clock.advance(100);
    display.onEvent(output(run, 'no newline at the end'));
    display.onEvent(end(run));
    display.onEvent({ type: 'warning', code: 'UndefinedVar', message: "Usage of undefined variable '$X'", line: 3 });
    clock.advance(300);
    display.onEvent({ type: 'export', kind: 'store', destination: '/store', digest: 'sha256:00' });
    display.onEvent({ type: 'build-end', digest: 'sha256:00', imageId: 'sha256:11', durationMs: 1 });
    display.finish();
    expect(out).toBe(
      [
        '#1 [build 1/3] COPY . /src',
        '#1 CACHED',
        '',
        '#2 [build 2/3] RUN make',
        '#2 0.250 cc -c a.c',
        '#2 1.250 cc -c b.c',
        '#2 1.350 no newline at the end',
        '#2 DONE 1.4s',
        '',
        '#3 exporting to image',
        '#3 DONE 0.3s',
        '',
        '',
        ' 1 warning found:',
        " - UndefinedVar: Usage of undefined variable '$X' (line 3)",
        '',
      ].join('\n'),
    );
  });

  it('puts output whose step reference differs in its index under the running step of that instruction', () => {
    let out = '';
    const display = createProgress('plain', { write: (t) => void (out += t), isTTY: false }, { clock: new FakeClock() });
    const run = step(2, 'RUN make');
    display.onEvent(start(step(1, 'COPY . .')));
    display.onEvent(end(step(1, 'COPY . .')));
    display.onEvent(start(run));
    display.onEvent(output({ ...run, index: 0 }, 'built\n'));
    display.onEvent(end(run));
    display.finish();
    expect(out).toBe('#1 [build 1/3] COPY . .\n#1 DONE 0.0s\n\n#2 [build 2/3] RUN make\n#2 0.000 built\n#2 DONE 0.0s\n\n');
  });

  it('marks the failed step with ERROR and the message', () => {
    const clock = new FakeClock();
    let out = '';
    const display = createProgress('auto', { write: (t) => void (out += t), isTTY: false }, { clock });
    expect(display.mode).toBe('plain');
    const run = step(1, 'RUN false', 'stage-0', 1);
    display.onEvent(start(run));
    display.onEvent(output(run, 'oops'));
    display.finish(new Error('process "/bin/sh -c false" did not complete successfully: exit code: 1'));
    expect(out).toBe(
      '#1 [stage-0 1/1] RUN false\n#1 0.000 oops\n#1 ERROR: process "/bin/sh -c false" did not complete successfully: exit code: 1\n\n',
    );
  });

  it('prints the same lines however the output is cut into chunks (UTF-8 split inside a character too)', () => {
    const text = 'héllo wörld\nß∂ƒ — ✓ done\r\npartial 😀 end';
    const bytes = enc.encode(text);
    const render = (cuts: number[]) => {
      let out = '';
      const display = createProgress('plain', { write: (t) => void (out += t), isTTY: false }, { clock: new FakeClock() });
      const ref = step(1, 'RUN x');
      display.onEvent(start(ref));
      let from = 0;
      for (const cut of [...cuts].sort((a, b) => a - b)) {
        display.onEvent(output(ref, bytes.subarray(from, cut)));
        from = cut;
      }
      display.onEvent(output(ref, bytes.subarray(from)));
      display.onEvent(end(ref));
      display.finish();
      return out;
    };
    const whole = render([]);
    expect(whole).toContain('#1 0.000 partial 😀 end\n');
    expect(whole).toContain('#1 0.000 ß∂ƒ — ✓ done\n');
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: bytes.byteLength }), { maxLength: 12 }), (cuts) => render(cuts) === whole));
  });
});

describe('tty progress', () => {
  function tty(columns = 60, rows?: number) {
    const clock = new FakeClock();
    const screen = new Screen();
    let written = '';
    const display = createProgress(
      'auto',
      { write: (t) => ((written += t), screen.write(t)), isTTY: true, columns, rows },
      { clock },
    );
    return { clock, screen, display, written: () => written };
  }

  it('redraws the running steps in place with timers, CACHED marks and the tail of the output', () => {
    const { clock, screen, display } = tty();
    expect(display.mode).toBe('tty');
    const from = step(1, 'WORKDIR /src');
    const copy = step(2, 'COPY . .');
    const run = step(3, 'RUN make all');
    display.onEvent(start(from));
    display.onEvent(end(from, true));
    display.onEvent(start(copy));
    clock.advance(200);
    display.onEvent(end(copy));
    display.onEvent(start(run));
    display.onEvent(output(run, 'line 1\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nhalf'));
    clock.tick(1500);
    expect(screen.text()).toEqual([
      '[+] Building 1.7s (2/3)',
      ' => CACHED [build 1/3] WORKDIR /src                    0.0s',
      ' => [build 2/3] COPY . .                               0.2s',
      ' => [build 3/3] RUN make all                           1.5s',
      ' => => # line 3',
      ' => => # line 4',
      ' => => # line 5',
      ' => => # line 6',
      ' => => # line 7',
      ' => => # half',
    ]);
    expect(screen.cursorVisible).toBe(false);

    // Time passes: the same frame, timers moved, nothing duplicated below.
    clock.tick(1000);
    expect(screen.text()[0]).toBe('[+] Building 2.7s (2/3)');
    expect(screen.text()[3]).toBe(' => [build 3/3] RUN make all                           2.5s');
    expect(screen.text()).toHaveLength(10);

    display.onEvent(end(run));
    clock.advance(100);
    display.onEvent({ type: 'export', kind: 'oci', destination: 'out.tar', digest: 'sha256:00' });
    display.finish();
    // The output tail goes with the running state; the final frame has every step.
    expect(screen.text()).toEqual([
      '[+] Building 2.8s (4/4) FINISHED',
      ' => CACHED [build 1/3] WORKDIR /src                    0.0s',
      ' => [build 2/3] COPY . .                               0.2s',
      ' => [build 3/3] RUN make all                           2.5s',
      ' => exporting to oci image format out.tar              0.1s',
    ]);
    expect(screen.cursorVisible).toBe(true);
  });

  it('keeps every line narrower than the terminal, so nothing wraps', () => {
    const { clock, screen, display } = tty(32);
    const ref = step(1, `RUN ${'x'.repeat(100)}`);
    display.onEvent(start(ref));
    display.onEvent(output(ref, `${'y'.repeat(100)}\n`));
    clock.tick();
    const lines = screen.text();
    expect(lines).toHaveLength(3);
    for (const line of lines) expect([...line].length).toBeLessThanOrEqual(31);
    expect(lines[1]).toMatch(/^ => \[build 1\/3\] RUN x+… 0\.1s$/);
    expect(lines[2]).toMatch(/^ => => # y+…$/);
  });

  it('shows the failed step as ERROR and prints its output after the frame', () => {
    const { clock, screen, display } = tty();
    const ref = step(1, 'RUN false', 'stage-0', 1);
    display.onEvent(start(ref));
    clock.advance(300);
    display.onEvent(output(ref, 'compiling\nerror: nope\n'));
    clock.tick();
    display.onEvent({ type: 'warning', code: 'UnusedBuildArg', message: 'build argument "X" is not consumed by any ARG' });
    display.finish(new Error('exit code: 1'));
    expect(screen.text()).toEqual([
      '[+] Building 0.4s (1/1) FINISHED',
      ' => ERROR [stage-0 1/1] RUN false                      0.4s',
      '------',
      ' > [stage-0 1/1] RUN false:',
      '0.300 compiling',
      '0.300 error: nope',
      '------',
      '',
      ' 1 warning found:',
      ' - UnusedBuildArg: build argument "X" is not consumed by any ARG',
    ]);
  });

  it('fits a frame into the screen height by dropping finished steps from the top', () => {
    const { clock, screen, display } = tty(60, 6);
    for (let i = 1; i <= 8; i++) {
      display.onEvent(start(step(i, `LABEL n=${i}`, 'build', 9)));
      display.onEvent(end(step(i, `LABEL n=${i}`, 'build', 9), true));
    }
    const run = step(9, 'RUN sleep 1', 'build', 9);
    display.onEvent(start(run));
    display.onEvent(output(run, 'a\nb\n'));
    clock.tick();
    expect(screen.text()).toEqual([
      '[+] Building 0.1s (8/9)',
      ' => CACHED [build 8/9] LABEL n=8                       0.0s',
      ' => [build 9/9] RUN sleep 1                            0.1s',
      ' => => # a',
      ' => => # b',
    ]);
    display.onEvent(end(run));
    display.finish();
    // The last frame is drawn once, so it may be as tall as it needs to be.
    expect(screen.text()).toHaveLength(10);
    expect(screen.text()[0]).toBe('[+] Building 0.1s (9/9) FINISHED');
  });

  /** What a blank screen shows after only the last redraw: no trace of earlier frames may remain. */
  function lastDrawAlone(written: string): string[] {
    const jumps = [...written.matchAll(/\x1b\[\d+A\r/g)];
    const lastJump = jumps.at(-1);
    const alone = new Screen();
    alone.write(lastJump ? written.slice(lastJump.index + lastJump[0].length) : written);
    return alone.text();
  }

  it('leaves the screen showing exactly the last frame, whatever the sequence of events and redraws', () => {
    const event = fc.oneof(
      fc.record({ kind: fc.constant('start' as const) }),
      fc.record({ kind: fc.constant('end' as const), cached: fc.boolean() }),
      fc.record({ kind: fc.constant('output' as const), text: fc.array(fc.string({ maxLength: 30 }), { maxLength: 4 }).map((lines) => lines.join('\n')) }),
      fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 5000 }) }),
    );
    fc.assert(
      fc.property(fc.array(event, { maxLength: 40 }), fc.integer({ min: 20, max: 120 }), fc.boolean(), (events, columns, fail) => {
        const { clock, screen, display, written } = tty(columns, 12);
        let next = 1;
        const running: StepRef[] = [];
        for (const e of events) {
          if (e.kind === 'start') {
            const ref = step(next++, `RUN step ${next}`, 'build', 50);
            running.push(ref);
            display.onEvent(start(ref));
          } else if (e.kind === 'end') {
            const ref = running.shift();
            if (ref) display.onEvent(end(ref, e.cached));
          } else if (e.kind === 'output') {
            const ref = running[0];
            if (ref) display.onEvent(output(ref, e.text));
          } else {
            clock.tick(e.ms);
            expect(screen.text()).toEqual(lastDrawAlone(written()));
          }
        }
        display.finish(fail ? new Error('failed') : undefined);
        const lines = screen.text();
        expect(lines[0]).toMatch(/^\[\+\] Building /);
        const frameEnd = lines.findIndex((l) => l === '------' || l === '');
        const frame = frameEnd < 0 ? lines : lines.slice(0, frameEnd);
        expect(frame).toHaveLength(1 + (next - 1));
        for (const line of frame) expect([...line].length).toBeLessThan(columns);
        expect(lines).toEqual(lastDrawAlone(written()));
        expect(screen.cursorVisible).toBe(true);
      }),
      { numRuns: 150 },
    );
  });
});

describe('the terminal behind an io', () => {
  it('is not a terminal for a test io, the io\'s own answer when it has one, the process streams for processIo', () => {
    const plain: CliIo = { stdout() {}, stderr() {}, readText: async () => '' };
    expect(terminalOf(plain).isTTY('stderr')).toBe(false);
    expect(stderrWriter(plain).isTTY).toBe(false);
    const posing = { ...plain, isTTY: (s: string) => s === 'stderr', terminalSize: () => ({ columns: 99, rows: 20 }) };
    expect(stderrWriter(posing)).toMatchObject({ isTTY: true, columns: 99, rows: 20 });
    expect(terminalOf(posing).isTTY('stdout')).toBe(false);
    expect(terminalOf(processIo).isTTY('stderr')).toBe(process.stderr.isTTY === true);
    expect(resolveProgressMode('auto', { isTTY: true })).toBe('tty');
    expect(resolveProgressMode('plain', { isTTY: true })).toBe('plain');
  });
});
