/**
 * A client for `bkoracle`, BuildKit's own Dockerfile parser and shell lexer
 * behind a small CLI (see ../shared/oracles/README.md). One `bkoracle batch`
 * process serves every request of a test file: requests are written as JSON
 * lines and answers come back in the same order.
 *
 * The oracle buffers its answers (a Go bufio.Writer of 4 KiB) and only
 * flushes when that buffer fills or stdin closes. So that a batch of requests
 * can be answered without closing the process, every write ends with one
 * padding request whose answer is larger than the buffer: writing it forces
 * everything before it out. Its own answer is read and dropped.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One instruction of a successful parse: its line range and heredocs. */
export interface OracleNode {
  start: number;
  end: number;
  heredocs?: OracleHeredoc[];
}

export interface OracleHeredoc {
  name: string;
  content: string;
  expand: boolean;
  chomp: boolean;
}

export type ParseAnswer =
  | { ok: true; dump: string; nodes?: OracleNode[]; warnings?: string[] }
  | { ok: false; error: string; line?: number };

export type WordAnswer = { ok: true; word: string } | { ok: false; error: string };

export type WordsAnswer = { ok: true; words: string[] } | { ok: false; error: string };

type Request =
  | { op: 'parse'; text: string }
  | { op: 'word' | 'words'; text: string; env: string[] };

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  /** Padding answers are read and dropped. */
  padding: boolean;
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Larger than the oracle's 4 KiB output buffer, with room to spare. */
const PADDING_LINE = JSON.stringify({ op: 'word', text: 'x'.repeat(8192), env: [] }) + '\n';

/** Where the oracle should be: `$LAYERKIT_BKORACLE`, else `../shared/oracles/bkoracle` beside the repository. */
export function oraclePath(): string {
  return process.env.LAYERKIT_BKORACLE || resolve(repoRoot, '../shared/oracles/bkoracle');
}

/** The oracle's path when it exists and is executable. */
export function locateOracle(): string | undefined {
  const path = oraclePath();
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    return undefined;
  }
}

/**
 * Starts the oracle, or explains why not: a missing oracle skips the caller's
 * tests with a printed reason, except under `CI=true`, where it is a failure.
 */
export function openOracle(): BkOracle | undefined {
  const path = locateOracle();
  if (path) return new BkOracle(path);
  const reason = `bkoracle not found at ${oraclePath()} (set LAYERKIT_BKORACLE)`;
  if (process.env.CI) throw new Error(`${reason}; differential tests cannot run in CI without it`);
  console.warn(`skipping differential tests against BuildKit: ${reason}`);
  return undefined;
}

/** One long-lived `bkoracle batch` process. */
export class BkOracle {
  readonly path: string;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly pending: Pending[] = [];
  private outgoing: string[] = [];
  private flushScheduled = false;
  private stdoutRest = '';
  private stderrTail = '';
  private failure: Error | undefined;

  constructor(path: string) {
    this.path = path;
    this.child = spawn(path, ['batch'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (chunk: string) => this.onStdout(chunk));
    // Drained so that a chatty oracle can never block on a full pipe.
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-2000);
    });
    this.child.on('error', (err) => this.fail(new Error(`bkoracle failed to run: ${err.message}`)));
    // 'close' comes after stdout has been read to its end, so no answer is lost.
    this.child.on('close', (code, signal) => {
      if (this.pending.length > 0) {
        this.fail(new Error(`bkoracle exited (${signal ?? code}) with ${this.pending.length} answers owed; stderr: ${this.stderrTail}`));
      }
    });
    // A closed pipe shows up as an exit; nothing more to do here.
    this.child.stdin.on('error', () => {});
  }

  /** BuildKit's `parser.Parse` of a whole Dockerfile. */
  parse(text: string): Promise<ParseAnswer> {
    return this.request({ op: 'parse', text }) as Promise<ParseAnswer>;
  }

  /** BuildKit's `ShellLex.ProcessWord` with escape `\`; `env` entries are `NAME=value`. */
  word(text: string, env: readonly string[] = []): Promise<WordAnswer> {
    return this.request({ op: 'word', text, env: [...env] }) as Promise<WordAnswer>;
  }

  /** BuildKit's `ShellLex.ProcessWords` with escape `\`. */
  words(text: string, env: readonly string[] = []): Promise<WordsAnswer> {
    return this.request({ op: 'words', text, env: [...env] }) as Promise<WordsAnswer>;
  }

  /** Parses many Dockerfiles in one write. */
  parseMany(texts: readonly string[]): Promise<ParseAnswer[]> {
    return Promise.all(texts.map((t) => this.parse(t)));
  }

  /** Ends the process after every owed answer has arrived. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((done) => this.child.once('close', () => done()));
    this.flush();
    this.child.stdin.end();
    await exited;
  }

  private request(req: Request): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    // JSON would carry a lone surrogate as an escape that Go reads as U+FFFD:
    // the oracle would answer a different question than the one asked.
    if (LONE_SURROGATE.test(req.text) || ('env' in req && req.env.some((e) => LONE_SURROGATE.test(e)))) {
      return Promise.reject(new Error(`bkoracle requests must be well-formed Unicode: ${JSON.stringify(req.text)}`));
    }
    return new Promise((resolvePromise, rejectPromise) => {
      this.pending.push({ resolve: resolvePromise, reject: rejectPromise, padding: false });
      this.outgoing.push(JSON.stringify(req) + '\n');
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        // Requests made in the same tick travel together, followed by one padding line.
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.outgoing.length === 0) return;
    this.pending.push({ resolve: () => {}, reject: () => {}, padding: true });
    this.outgoing.push(PADDING_LINE);
    const data = this.outgoing.join('');
    this.outgoing = [];
    this.child.stdin.write(data);
  }

  private onStdout(chunk: string): void {
    const text = this.stdoutRest + chunk;
    let start = 0;
    for (let nl = text.indexOf('\n', start); nl >= 0; nl = text.indexOf('\n', start)) {
      const line = text.slice(start, nl);
      start = nl + 1;
      const waiter = this.pending.shift();
      if (!waiter) {
        this.fail(new Error(`bkoracle sent an unexpected answer: ${line.slice(0, 200)}`));
        return;
      }
      if (waiter.padding) continue;
      try {
        waiter.resolve(JSON.parse(line));
      } catch {
        waiter.reject(new Error(`bkoracle sent an unreadable answer: ${line.slice(0, 200)}`));
      }
    }
    this.stdoutRest = text.slice(start);
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.pending.splice(0)) waiter.reject(error);
  }
}
