import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/io.js';
import { humanSize, since } from '../../src/cli/commands/images.js';
import { ImageStore } from '../../src/image/store/store.js';

const repo = join(import.meta.dirname, '../..');

async function run(argv: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    readText: (p) => readFile(p, 'utf8'),
  };
  const status = await main(argv, io);
  return { status, stdout, stderr };
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
    const tags = (await s.list()).flatMap((i) => i.repoTags);
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
    expect((await run(['build', '--bogus', '.'])).status).toBe(2);
    expect((await run(['build', '--build-arg', 'novalue', '.'])).status).toBe(2);
    expect((await run(['images', 'extra'])).status).toBe(2);
  });

  it('formats sizes and ages as docker does', () => {
    expect(humanSize(374)).toBe('374B');
    expect(humanSize(1_500_000)).toBe('1.50MB');
    const now = Date.parse('2026-01-01T12:00:00Z');
    expect(since('2026-01-01T10:00:00Z', now)).toBe('2 hours ago');
    expect(since('2026-01-01T11:59:30Z', now)).toBe('30 seconds ago');
    expect(since(undefined, now)).toBe('N/A');
  });
});
