/**
 * Build progress on a terminal, in the two styles of `docker buildx build`:
 *
 * - `plain`: one line per thing that happens, each step numbered `#N`, its
 *   output lines stamped with the seconds since it started, `#N CACHED` or
 *   `#N DONE 0.3s` at its end. For logs and pipes.
 * - `tty`: a frame redrawn in place with ANSI cursor movement: a header with
 *   the elapsed time and the count of finished steps, one line per step with
 *   its timer (`CACHED`, `ERROR` in front when so), and the last lines of the
 *   output of the steps still running.
 *
 * Both take {@link BuildEvent}s and write text; the clock is injected so a
 * test can drive a frame to a known time.
 * @module
 */
import type { BuildEvent, StepRef } from '../index.js';
import type { CliIo } from './io.js';
import { terminalOf, type TerminalIo } from './terminal.js';

/** What `--progress` accepts. `auto` is `tty` on a terminal, `plain` elsewhere. */
export const PROGRESS_MODES = ['auto', 'plain', 'tty', 'quiet'] as const;

/** A value of `--progress`. */
export type ProgressMode = (typeof PROGRESS_MODES)[number];

/**
 * Where progress goes: a text sink and what is known about the terminal
 * behind it.
 *
 * @example
 * ```ts
 * const writer: ProgressWriter = { write: (t) => process.stderr.write(t), isTTY: true, columns: 100, rows: 30 };
 * ```
 */
export interface ProgressWriter {
  write(text: string): void;
  /** Whether cursor movement works (a terminal). */
  readonly isTTY: boolean;
  /** Width in columns; frame lines are cut to it so that none wraps and the redraw stays aligned. */
  readonly columns?: number | undefined;
  /** Height in rows; a taller frame drops finished steps from its top. */
  readonly rows?: number | undefined;
}

/**
 * Time as the display sees it: milliseconds, and a repeating timer for the
 * redraw of the `tty` frame.
 *
 * @example
 * ```ts
 * let now = 0;
 * const ticks: Array<() => void> = [];
 * const clock: ProgressClock = { now: () => now, every: (_ms, fn) => (ticks.push(fn), () => {}) };
 * ```
 */
export interface ProgressClock {
  now(): number;
  /** Calls `fn` every `ms` milliseconds until the returned function is called. */
  every(ms: number, fn: () => void): () => void;
}

/** The process's clock; the timer does not keep the process alive. */
export const systemClock: ProgressClock = {
  now: () => performance.now(),
  every(ms, fn) {
    const timer = setInterval(fn, ms);
    timer.unref();
    return () => clearInterval(timer);
  },
};

/**
 * A running progress display: pass `onEvent` to `build()`, call `finish`
 * when it returns or throws.
 *
 * @example
 * ```ts
 * const display = createProgress('auto', writer);
 * try {
 *   await build({ context: '.', onEvent: display.onEvent });
 *   display.finish();
 * } catch (err) {
 *   display.finish(err);
 *   throw err;
 * }
 * ```
 */
export interface ProgressDisplay {
  readonly mode: 'plain' | 'tty';
  readonly onEvent: (event: BuildEvent) => void;
  /** Draws the last frame (the failed step and its output when `error` is given) and the warnings. */
  finish(error?: unknown): void;
}

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  clock?: ProgressClock;
  /** Milliseconds between redraws of the `tty` frame (default 100). */
  interval?: number;
}

/**
 * `auto` resolved against the writer: `tty` on a terminal, else `plain`.
 *
 * @example
 * ```ts
 * resolveProgressMode('auto', { write() {}, isTTY: false }); // 'plain'
 * ```
 */
export function resolveProgressMode(mode: ProgressMode, writer: Pick<ProgressWriter, 'isTTY'>): 'plain' | 'tty' | 'quiet' {
  return mode === 'auto' ? (writer.isTTY ? 'tty' : 'plain') : mode;
}

/**
 * A display for `mode` (`auto` resolved against the writer). `quiet` has no
 * display: do not pass an `onEvent` at all.
 *
 * @example
 * ```ts
 * const display = createProgress('plain', { write: (t) => process.stderr.write(t), isTTY: false });
 * await build({ context: '.', onEvent: display.onEvent });
 * display.finish();
 * ```
 */
export function createProgress(mode: Exclude<ProgressMode, 'quiet'>, writer: ProgressWriter, options: ProgressOptions = {}): ProgressDisplay {
  const clock = options.clock ?? systemClock;
  return resolveProgressMode(mode, writer) === 'tty'
    ? new TtyDisplay(writer, clock, options.interval ?? 100)
    : new PlainDisplay(writer, clock);
}

// ---------------------------------------------------------------------------
// What both styles track.

/** One line of the display: a build step or an export. */
interface Vertex {
  /** `#N`: numbered in the order the steps start, as buildx numbers its vertices. */
  readonly id: number;
  readonly name: string;
  /** The step's stage and instruction (none for an export). */
  readonly stage?: string;
  readonly instruction?: string;
  readonly started: number;
  ended?: number;
  cached: boolean;
  state: 'running' | 'done' | 'error' | 'canceled';
  /** The last complete output lines, with their times since the start. */
  tail: Array<{ at: number; text: string }>;
  /** An output line not yet ended by a newline. */
  partial: string;
  readonly decoder: InstanceType<typeof TextDecoder>;
}

type Warning = Extract<BuildEvent, { type: 'warning' }>;

/** Output lines a vertex keeps for the frame and the error report. */
const TAIL_LINES = 10;

const EXPORT_NAMES: Record<Extract<BuildEvent, { type: 'export' }>['kind'], string> = {
  store: 'exporting to image',
  oci: 'exporting to oci image format',
  docker: 'exporting to docker image format',
  registry: 'pushing',
  image: 'pushing',
};

function stepName(step: StepRef): string {
  // A heredoc or continuation may bring line breaks; one display line per step.
  return `[${step.stage} ${step.index}/${step.total}] ${step.instruction.replace(/\s*\n\s*/g, ' ')}`;
}

function stepKey(step: StepRef): string {
  return `${step.stage}\0${step.index}\0${step.instruction}`;
}

function seconds(ms: number, digits: number): string {
  return (Math.max(0, ms) / 1000).toFixed(digits);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Turns events into vertices and output lines; the styles decide what to print. */
class VertexTracker {
  readonly vertices: Vertex[] = [];
  readonly warnings: Warning[] = [];
  readonly #byKey = new Map<string, Vertex>();
  /** When the last vertex ended: where an export's time starts. */
  #lastEnd: number;

  constructor(readonly clock: ProgressClock) {
    this.#lastEnd = clock.now();
  }

  #add(name: string, started: number, step?: StepRef): Vertex {
    const vertex: Vertex = {
      id: this.vertices.length + 1,
      name,
      ...(step ? { stage: step.stage, instruction: step.instruction } : {}),
      started,
      cached: false,
      state: 'running',
      tail: [],
      partial: '',
      decoder: new TextDecoder(),
    };
    this.vertices.push(vertex);
    return vertex;
  }

  start(step: StepRef): Vertex {
    const vertex = this.#add(stepName(step), this.clock.now(), step);
    this.#byKey.set(stepKey(step), vertex);
    return vertex;
  }

  /**
   * The vertex of a step. A reference that matches no running step exactly
   * (events from a producer that numbers its steps otherwise) goes to the
   * latest running step of that stage with that instruction, then of that
   * stage; a step never announced gets a vertex of its own.
   */
  of(step: StepRef): Vertex {
    const exact = this.#byKey.get(stepKey(step));
    if (exact) return exact;
    const running = this.running().filter((v) => v.stage === step.stage);
    return running.findLast((v) => v.instruction === step.instruction) ?? running.at(-1) ?? this.start(step);
  }

  /** Feeds output; returns the lines it completed. */
  output(vertex: Vertex, chunk: Uint8Array): Array<{ at: number; text: string }> {
    const text = vertex.partial + vertex.decoder.decode(chunk, { stream: true });
    const parts = text.split(/\r?\n/);
    vertex.partial = parts.pop() ?? '';
    const at = this.clock.now() - vertex.started;
    const lines = parts.map((line) => ({ at, text: lastCarriageSegment(line) }));
    this.#keep(vertex, lines);
    return lines;
  }

  /** Ends a vertex; returns its unterminated last line, if any. */
  end(vertex: Vertex, state: Vertex['state'], cached = false): Array<{ at: number; text: string }> {
    const rest = vertex.partial + vertex.decoder.decode();
    vertex.partial = '';
    vertex.ended = this.clock.now();
    vertex.state = state;
    vertex.cached = cached;
    this.#byKey.forEach((v, key) => v === vertex && this.#byKey.delete(key));
    this.#lastEnd = vertex.ended;
    const lines = rest === '' ? [] : [{ at: vertex.ended - vertex.started, text: lastCarriageSegment(rest) }];
    this.#keep(vertex, lines);
    return lines;
  }

  /** An export is reported when done; its time is counted from the previous vertex's end. */
  exported(event: Extract<BuildEvent, { type: 'export' }>): Vertex {
    const name = event.kind === 'store' ? EXPORT_NAMES.store : `${EXPORT_NAMES[event.kind]} ${event.destination}`;
    const vertex = this.#add(name, this.#lastEnd);
    this.end(vertex, 'done');
    return vertex;
  }

  /**
   * Applies one build event to the vertices: which vertex it touched, how,
   * and the output lines it completed (a warning is only kept).
   */
  apply(event: BuildEvent): TrackedChange | undefined {
    switch (event.type) {
      case 'step-start':
        return { kind: 'start', vertex: this.start(event.step), lines: [] };
      case 'output': {
        const vertex = this.of(event.step);
        return { kind: 'output', vertex, lines: this.output(vertex, event.chunk) };
      }
      case 'step-end': {
        const vertex = this.of(event.step);
        return { kind: 'end', vertex, lines: this.end(vertex, 'done', event.cached) };
      }
      case 'export':
        return { kind: 'export', vertex: this.exported(event), lines: [] };
      case 'warning':
        this.warnings.push(event);
        return undefined;
      default:
        return undefined;
    }
  }

  running(): Vertex[] {
    return this.vertices.filter((v) => v.state === 'running');
  }

  /**
   * Ends the steps still running at the end of the build. After a failure
   * the last one started is the one that failed and the others were
   * canceled; after a success (no step should be running) they are done.
   */
  settle(failed: boolean): Array<{ vertex: Vertex; lines: Array<{ at: number; text: string }> }> {
    const running = this.running();
    const culprit = failed ? running.at(-1) : undefined;
    return running.map((vertex) => ({ vertex, lines: this.end(vertex, vertex === culprit ? 'error' : failed ? 'canceled' : 'done') }));
  }

  #keep(vertex: Vertex, lines: Array<{ at: number; text: string }>): void {
    if (lines.length === 0) return;
    vertex.tail.push(...lines);
    if (vertex.tail.length > TAIL_LINES) vertex.tail.splice(0, vertex.tail.length - TAIL_LINES);
  }
}

/** What {@link VertexTracker.apply} did with an event. */
interface TrackedChange {
  kind: 'start' | 'output' | 'end' | 'export';
  vertex: Vertex;
  lines: Array<{ at: number; text: string }>;
}

/** A progress bar's `\r` rewrites its line: what a terminal would show is the last segment. */
function lastCarriageSegment(line: string): string {
  const segments = line.split('\r').filter((s) => s !== '');
  return segments.at(-1) ?? '';
}

function warningSummary(warnings: Warning[]): string {
  if (warnings.length === 0) return '';
  const lines = warnings.map((w) => ` - ${w.code}: ${w.message}${w.line === undefined ? '' : ` (line ${w.line})`}\n`);
  return `\n ${warnings.length} warning${warnings.length === 1 ? '' : 's'} found:\n${lines.join('')}`;
}

// ---------------------------------------------------------------------------
// plain

class PlainDisplay implements ProgressDisplay {
  readonly mode = 'plain' as const;
  readonly #writer: ProgressWriter;
  readonly #tracker: VertexTracker;
  /** The vertex whose lines were printed last: a header is repeated when output switches vertices. */
  #current: Vertex | undefined;
  #finished = false;

  constructor(writer: ProgressWriter, clock: ProgressClock) {
    this.#writer = writer;
    this.#tracker = new VertexTracker(clock);
  }

  readonly onEvent = (event: BuildEvent): void => {
    const change = this.#tracker.apply(event);
    if (change === undefined) return;
    const { vertex } = change;
    switch (change.kind) {
      case 'start':
        this.#writer.write(`#${vertex.id} ${vertex.name}\n`);
        this.#current = vertex;
        break;
      case 'output':
        this.#lines(vertex, change.lines);
        break;
      case 'end':
        this.#lines(vertex, change.lines);
        this.#writer.write(vertex.cached ? `#${vertex.id} CACHED\n\n` : `#${vertex.id} DONE ${seconds(vertex.ended! - vertex.started, 1)}s\n\n`);
        this.#current = undefined;
        break;
      case 'export':
        this.#writer.write(`#${vertex.id} ${vertex.name}\n#${vertex.id} DONE ${seconds(vertex.ended! - vertex.started, 1)}s\n\n`);
        break;
    }
  };

  #lines(vertex: Vertex, lines: Array<{ at: number; text: string }>): void {
    if (lines.length === 0) return;
    if (this.#current !== vertex) this.#writer.write(`#${vertex.id} ${vertex.name}\n`);
    this.#current = vertex;
    this.#writer.write(lines.map((l) => `#${vertex.id} ${seconds(l.at, 3)} ${l.text}\n`).join(''));
  }

  finish(error?: unknown): void {
    if (this.#finished) return;
    this.#finished = true;
    for (const { vertex, lines } of this.#tracker.settle(error !== undefined)) {
      this.#lines(vertex, lines);
      this.#writer.write(
        vertex.state === 'error'
          ? `#${vertex.id} ERROR: ${errorMessage(error)}\n\n`
          : vertex.state === 'canceled'
            ? `#${vertex.id} CANCELED\n\n`
            : `#${vertex.id} DONE ${seconds(vertex.ended! - vertex.started, 1)}s\n\n`,
      );
    }
    this.#writer.write(warningSummary(this.#tracker.warnings));
  }
}

// ---------------------------------------------------------------------------
// tty

const ESC = '\x1b[';
const HIDE_CURSOR = `${ESC}?25l`;
const SHOW_CURSOR = `${ESC}?25h`;
const CLEAR_LINE = `${ESC}2K`;
const CLEAR_BELOW = `${ESC}J`;
/** Output lines shown under a running step, as buildx shows them. */
const LIVE_TAIL = 6;
const DEFAULT_COLUMNS = 80;

/** Cuts a line to `width` characters (code points), marking the cut. */
function clipToWidth(text: string, width: number): string {
  if (width <= 0) return '';
  const chars = [...text];
  if (chars.length <= width) return text;
  return width <= 1 ? chars.slice(0, width).join('') : `${chars.slice(0, width - 1).join('')}…`;
}

class TtyDisplay implements ProgressDisplay {
  readonly mode = 'tty' as const;
  readonly #writer: ProgressWriter;
  readonly #tracker: VertexTracker;
  readonly #clock: ProgressClock;
  readonly #started: number;
  readonly #interval: number;
  #stopTimer: (() => void) | undefined;
  /** Lines of the frame on screen, which the next frame overwrites. */
  #drawn = 0;
  #lastFrame = '';
  #finished = false;

  constructor(writer: ProgressWriter, clock: ProgressClock, interval: number) {
    this.#writer = writer;
    this.#clock = clock;
    this.#tracker = new VertexTracker(clock);
    this.#started = clock.now();
    this.#interval = interval;
  }

  readonly onEvent = (event: BuildEvent): void => {
    if (this.#finished) return;
    this.#tracker.apply(event);
    // The timer redraws; the first event starts it and draws at once.
    if (this.#stopTimer === undefined) {
      this.#stopTimer = this.#clock.every(this.#interval, () => this.#draw(false));
      this.#draw(false);
    }
  };

  finish(error?: unknown): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#stopTimer?.();
    const failed = this.#tracker.settle(error !== undefined).find((s) => s.vertex.state === 'error')?.vertex;
    this.#draw(true);
    let report = '';
    if (failed) {
      report += `------\n > ${failed.name}:\n`;
      for (const line of failed.tail) report += `${seconds(line.at, 3)} ${line.text}\n`;
      report += '------\n';
    }
    this.#writer.write(report + warningSummary(this.#tracker.warnings));
  }

  /** Replaces the frame on screen by the current one. */
  #draw(final: boolean): void {
    const frame = this.#frame(final);
    const text = frame.join('\n');
    if (!final && text === this.#lastFrame) return;
    this.#lastFrame = text;
    const up = this.#drawn > 0 ? `${ESC}${this.#drawn}A\r` : HIDE_CURSOR;
    const body = frame.map((line) => `${CLEAR_LINE}${line}\n`).join('');
    this.#writer.write(`${up}${body}${CLEAR_BELOW}${final ? SHOW_CURSOR : ''}`);
    this.#drawn = frame.length;
  }

  #frame(final: boolean): string[] {
    const now = this.#clock.now();
    // One column spare: writing the last column makes some terminals wrap.
    const width = Math.max(1, (this.#writer.columns ?? DEFAULT_COLUMNS) - 1);
    const vertices = this.#tracker.vertices;
    const done = vertices.filter((v) => v.state !== 'running').length;
    const header = `[+] Building ${seconds(now - this.#started, 1)}s (${done}/${vertices.length})${final ? ' FINISHED' : ''}`;
    const blocks = vertices.map((v) => this.#vertexLines(v, now, width));
    const rows = this.#writer.rows;
    if (!final && rows !== undefined) {
      // A frame taller than the screen cannot be redrawn in place: finished
      // steps leave from the top, then the oldest lines. One row stays free
      // for the cursor.
      const room = Math.max(1, rows - 2);
      let lines = blocks.reduce((n, b) => n + b.length, 0);
      for (let i = 0; i < blocks.length && lines > room; i++) {
        if (vertices[i]!.state === 'running') continue;
        lines -= blocks[i]!.length;
        blocks[i] = [];
      }
      const body = blocks.flat();
      return [clipToWidth(header, width), ...body.slice(Math.max(0, body.length - room))];
    }
    return [clipToWidth(header, width), ...blocks.flat()];
  }

  #vertexLines(vertex: Vertex, now: number, width: number): string[] {
    const status = vertex.state === 'error' ? 'ERROR ' : vertex.state === 'canceled' ? 'CANCELED ' : vertex.cached ? 'CACHED ' : '';
    const time = `${seconds((vertex.ended ?? now) - vertex.started, 1)}s`;
    const room = width - time.length - 1;
    const lines = [room < 8 ? clipToWidth(` => ${status}${vertex.name}`, width) : `${clipToWidth(` => ${status}${vertex.name}`, room).padEnd(room)} ${time}`];
    if (vertex.state === 'running') {
      const tail = vertex.tail.map((l) => l.text);
      if (vertex.partial !== '') tail.push(lastCarriageSegment(vertex.partial));
      for (const text of tail.slice(-LIVE_TAIL)) lines.push(clipToWidth(` => => # ${text}`, width));
    }
    return lines;
  }
}

/**
 * A {@link ProgressWriter} over the standard error of `io` (where buildx
 * writes its progress).
 *
 * @example
 * ```ts
 * const display = createProgress('auto', stderrWriter(io));
 * ```
 */
export function stderrWriter(io: CliIo & TerminalIo): ProgressWriter {
  const terminal = terminalOf(io);
  const size = terminal.terminalSize('stderr');
  return { write: (text) => io.stderr(text), isTTY: terminal.isTTY('stderr'), columns: size?.columns, rows: size?.rows };
}
