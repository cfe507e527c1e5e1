import { copyFile, mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/io.js';
import type { TerminalIo } from '../../src/cli/terminal.js';
import { humanSize, since } from '../../src/cli/commands/images.js';
import { ImageStore } from '../../src/image/store/store.js';
import { sandboxReady } from '../builder/helpers.js';

const BUSYBOX = '/bin/busybox';

const repo = join(import.meta.dirname, '../..');

/** Runs the CLI in-process; `terminal` makes standard error pose as a terminal of that width. */
async function run(argv: string[], terminal?: { columns: number }): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo & TerminalIo = {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    readText: (p) => readFile(p, 'utf8'),
    ...(terminal ? { isTTY: (s: string) => s === 'stderr', terminalSize: () => ({ columns: terminal.columns, rows: 40 }) } : {}),
  };
  const status = await main(argv, io);
  return { status, stdout, stderr };
}

/** The store's reference index, to show a failed command left it as it was. */
async function snapshotIndex(dir: string): Promise<string> {
  return readFile(join(dir, 'index.json'), 'utf8');
}

describe('layerkit build and the store verbs', () => {
  let store: string;
  beforeAll(async () => {
    store = await mkdtemp(join(tmpdir(), 'lk-cli-store-'));
  });
  afterAll(async () => {
    await rm(store, { recursive: true, force: true });
  });

  it('builds examples/hello into the store and lists it', async () => {
    const built = await run(['build', '--store', store, '-t', 'hello', '--source-date-epoch', '0', join(repo, 'examples/hello')]);
    expect(built.stderr).toContain('COPY --chmod=0644 hello.txt /app/hello.txt');
    expect(built.status).toBe(0);
    const id = /built (sha256:[0-9a-f]{64})/.exec(built.stdout)?.[1];
    expect(id).toBeDefined();
    expect(built.stdout).toContain('tagged docker.io/library/hello:latest');

    const images = await run(['images', '--store', store]);
    expect(images.status).toBe(0);
    const row = images.stdout.split('\n').find((l) => l.startsWith('hello '));
    expect(row).toMatch(new RegExp(`^hello\\s+latest\\s+${id!.slice(7, 19)}\\s`));

    const inspect = await run(['inspect', '--store', store, 'hello']);
    const [doc] = JSON.parse(inspect.stdout) as Array<{ Id: string; Config: { Cmd: string[]; User: string; WorkingDir: string } }>;
    expect(doc!.Id).toBe(id);
    expect(doc!.Config.Cmd).toEqual(['/bin/cat', '/app/hello.txt']);
    expect(doc!.Config.User).toBe('1000:1000');
    expect(doc!.Config.WorkingDir).toBe('/app');

    const history = await run(['history', '--no-trunc', '--store', store, 'hello']);
    const lines = history.stdout.trim().split('\n');
    // Header plus one line per instruction after FROM, newest first.
    expect(lines).toHaveLength(9);
    expect(lines[1]).toContain('CMD ["/bin/cat" "/app/hello.txt"]');
  });

  it('is reproducible with a fixed epoch: the same ID twice in fresh stores', async () => {
    const other = await mkdtemp(join(tmpdir(), 'lk-cli-store2-'));
    try {
      const a = await run(['build', '-q', '--store', store, '--source-date-epoch', '0', join(repo, 'examples/hello')]);
      const b = await run(['build', '-q', '--store', other, '--source-date-epoch', '0', join(repo, 'examples/hello')]);
      expect(a.status).toBe(0);
      expect(a.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
      expect(b.stdout).toBe(a.stdout);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it('tags, untags and removes like docker tag / rmi', async () => {
    expect((await run(['tag', '--store', store, 'hello', 'me/hello:v1'])).status).toBe(0);
    const s = new ImageStore(store);
    const tags = (await s.list()).flatMap((i) => i.tags);
    expect(tags).toEqual(expect.arrayContaining(['hello:latest', 'me/hello:v1']));
    const rmi = await run(['rmi', '--store', store, 'me/hello:v1']);
    expect(rmi.status).toBe(0);
    expect(rmi.stdout).toContain('Untagged: ');
    expect(rmi.stdout).not.toContain('Deleted: ');
    const missing = await run(['inspect', '--store', store, 'nope:1']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/nope/);
  });

  it('reports a Dockerfile syntax error with its position and exit status 1', async () => {
    const ctx = await mkdtemp(join(tmpdir(), 'lk-cli-ctx-'));
    try {
      await mkdir(ctx, { recursive: true });
      await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY --chmox=644 a /a\n');
      const result = await run(['build', '--store', store, ctx]);
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/Dockerfile:2:\d+: .*chmox/);
    } finally {
      await rm(ctx, { recursive: true, force: true });
    }
  });

  it('rejects bad usage with exit status 2', async () => {
    expect((await run(['build'])).status).toBe(2);
    expect((await run(['build', '--progress=fancy', '.'])).status).toBe(2);
    expect((await run(['build', '-q', '--progress=plain', '.'])).status).toBe(2);
    expect((await run(['build', '--cache-from', '.'])).status).toBe(2);
    expect((await run(['build', '--bogus', '.'])).status).toBe(2);
    expect((await run(['build', '--build-arg', 'novalue', '.'])).status).toBe(2);
    expect((await run(['images', 'one', 'two'])).status).toBe(2);
  });

  it('prints CACHED for every step of an unchanged rebuild, as buildx --progress=plain does', async () => {
    const args = ['build', '--store', store, '--progress=plain', '--source-date-epoch', '0', join(repo, 'examples/hello')];
    await run(args);
    const again = await run(args);
    expect(again.status).toBe(0);
    const headers = again.stderr.match(/^#(\d+) \[base \d\/8\] .*$/gm) ?? [];
    expect(headers).toHaveLength(8);
    for (let n = 1; n <= 8; n++) expect(again.stderr).toMatch(new RegExp(`^#${n} \\[base ${n}/8\\] [^\\n]*\\n#${n} CACHED$`, 'm'));
    // Only the export ran.
    expect(again.stderr.match(/^#\d+ DONE /gm)).toEqual(['#9 DONE ']);
    expect(again.stderr).toMatch(/^#9 exporting to image\n#9 DONE \d+\.\ds$/m);
    expect(again.stdout).toContain('8 steps, 8 cached\n');
  });

  it('--progress=tty (and auto on a terminal) redraws a live step view on standard error', async () => {
    const ctx = join(repo, 'examples/hello');
    for (const mode of ['--progress=tty', '--progress=auto']) {
      const result = await run(['build', '--store', store, '--source-date-epoch', '0', mode, ctx], { columns: 120 });
      expect(result.status).toBe(0);
      expect(result.stderr).toContain('\x1b[?25l');
      expect(result.stderr).toMatch(/\[\+\] Building \d+\.\ds \(9\/9\) FINISHED\n/);
      expect(result.stderr).toMatch(/ => CACHED \[base 4\/8\] COPY --chmod=0644 hello\.txt \/app\/hello\.txt +\d+\.\ds\n/);
      expect(result.stderr.endsWith('\x1b[?25h')).toBe(true);
      expect(result.stdout).toMatch(/^built sha256:/);
    }
    // auto without a terminal is plain
    const plain = await run(['build', '--store', store, ctx]);
    expect(plain.stderr).not.toContain('\x1b[');
    expect(plain.stderr).toMatch(/^#1 \[base 1\/8\]/);
  });

  it('--cache-to exports the cache and --cache-from reuses it in a fresh store', async () => {
    const work = await mkdtemp(join(tmpdir(), 'lk-cli-cache-'));
    try {
      const ctx = join(repo, 'examples/hello');
      const first = await run(['build', '--store', join(work, 'a'), '--source-date-epoch', '0', '--cache-to', `type=local,dest=${join(work, 'cache')},mode=max`, ctx]);
      expect(first.status).toBe(0);
      expect(first.stdout).toContain('8 steps, 0 cached');
      const second = await run(['build', '--store', join(work, 'b'), '--source-date-epoch', '0', '--cache-from', `type=local,src=${join(work, 'cache')}`, ctx]);
      expect(second.status).toBe(0);
      expect(second.stdout).toContain('8 steps, 8 cached');
      expect(second.stdout.split('\n')[0]).toBe(first.stdout.split('\n')[0]);
      const registry = await run(['build', '--store', join(work, 'b'), '--cache-to', 'type=inline', ctx]);
      expect(registry.status).toBe(1);
      expect(registry.stderr).toMatch(/cache type "inline" is not supported/);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  it('--no-cache-filter skips the cache for the named stages only (repeatable or a comma list)', async () => {
    const ctx = await mkdtemp(join(tmpdir(), 'lk-cli-ctx-'));
    try {
      await writeFile(join(ctx, 'x'), 'x\n');
      await writeFile(join(ctx, 'z'), 'z\n');
      await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch AS deps\nCOPY x /x\nFROM scratch AS app\nCOPY --from=deps /x /y\nCOPY z /z\n');
      const args = ['build', '--store', store, '--progress=plain', ctx];
      expect((await run(args)).status).toBe(0);
      const cachedSteps = (stderr: string) => [...stderr.matchAll(/^#\d+ \[(\w+) (\d)\/\d\] .*\n#\d+ (CACHED|DONE)/gm)].map((m) => `${m[1]} ${m[2]} ${m[3]}`);
      const app = await run([...args, '--no-cache-filter', 'app']);
      expect(app.status).toBe(0);
      expect(cachedSteps(app.stderr)).toEqual(['deps 1 CACHED', 'app 1 DONE', 'app 2 DONE']);
      const both = await run([...args, '--no-cache-filter', 'deps,app']);
      expect(cachedSteps(both.stderr)).toEqual(['deps 1 DONE', 'app 1 DONE', 'app 2 DONE']);
      const repeated = await run([...args, '--no-cache-filter', 'deps', '--no-cache-filter=app']);
      expect(cachedSteps(repeated.stderr)).toEqual(['deps 1 DONE', 'app 1 DONE', 'app 2 DONE']);
      const none = await run(args);
      expect(cachedSteps(none.stderr)).toEqual(['deps 1 CACHED', 'app 1 CACHED', 'app 2 CACHED']);
    } finally {
      await rm(ctx, { recursive: true, force: true });
    }
  });

  it('prints a failing instruction with its Dockerfile line and a caret', async () => {
    const ctx = await mkdtemp(join(tmpdir(), 'lk-cli-ctx-'));
    try {
      await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\n  COPY missing.txt /x\n');
      const before = await snapshotIndex(store);
      const result = await run(['build', '--store', store, '--progress=plain', ctx]);
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/^#1 \[stage-0 1\/1\] COPY missing\.txt \/x\n#1 ERROR: .*missing\.txt/m);
      expect(result.stderr).toContain(`${join(ctx, 'Dockerfile')}:2:3: `);
      expect(result.stderr).toMatch(/\n  COPY missing\.txt \/x\n  \^\n$/);
      expect(await snapshotIndex(store)).toBe(before);
    } finally {
      await rm(ctx, { recursive: true, force: true });
    }
  });

  it('streams RUN output into its step: plain lines stamped with seconds; in tty mode the failed step\'s output after the frame', async () => {
    if (!(await sandboxReady('the RUN progress test'))) return;
    const ctx = await mkdtemp(join(tmpdir(), 'lk-cli-ctx-'));
    try {
      await copyFile(BUSYBOX, join(ctx, 'busybox'));
      await writeFile(
        join(ctx, 'Dockerfile'),
        'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nRUN echo one; echo two >&2\nRUN echo last words; exit 3\n',
      );
      const plain = await run(['build', '--store', store, '--progress=plain', ctx]);
      expect(plain.status).toBe(1);
      expect(plain.stderr).toMatch(/^#3 \[stage-0 3\/4\] RUN echo one; echo two >&2\n#3 \d+\.\d{3} one\n#3 \d+\.\d{3} two\n#3 DONE \d+\.\ds\n/m);
      expect(plain.stderr).toMatch(/^#4 \d+\.\d{3} last words\n#4 ERROR: .*exit code: 3\n/m);
      expect(plain.stderr).toMatch(/Dockerfile:5:1: .*exit code: 3\nRUN echo last words; exit 3\n\^\n$/);

      const tty = await run(['build', '--store', store, '--progress=tty', ctx], { columns: 100 });
      expect(tty.status).toBe(1);
      expect(tty.stderr).toMatch(/ => CACHED \[stage-0 3\/4\] RUN echo one; echo two >&2 +\d+\.\ds\n/);
      expect(tty.stderr).toMatch(/ => ERROR \[stage-0 4\/4\] RUN echo last words; exit 3 +\d+\.\ds\n/);
      expect(tty.stderr).toMatch(/------\n > \[stage-0 4\/4\] RUN echo last words; exit 3:\n\d+\.\d{3} last words\n------\n/);
    } finally {
      await rm(ctx, { recursive: true, force: true });
    }
  });

  it('formats sizes and ages as docker does', () => {
    expect(humanSize(374)).toBe('374B');
    expect(humanSize(1_500_000)).toBe('1.50MB');
    const now = Date.parse('2026-01-01T12:00:00Z');
    expect(since('2026-01-01T10:00:00Z', now)).toBe('2 hours ago');
    expect(since('2026-01-01T11:59:30Z', now)).toBe('30 seconds ago');
    expect(since('2026-01-01T11:59:00Z', now)).toBe('About a minute ago');
    expect(since(undefined, now)).toBe('N/A');
  });
});
