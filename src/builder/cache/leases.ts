/**
 * Leases: which cache blobs running builds are using, so that a prune in
 * another process does not delete a blob between the moment a build finds
 * it and the moment the build has copied it into the store.
 *
 * Each build holds one lease file, `leases/<pid>-<host>-<random>.json`,
 * rewritten (temporary file, then rename) every time the build starts using
 * another blob — before it looks at or writes the blob. Prune reads every
 * lease under the store lock and keeps the blobs they name. A lease of a
 * process that is gone (same host, pid not alive) or untouched for a day is
 * stale and removed.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { processAlive } from '../../image/store/lock.js';

const STALE_MS = 24 * 60 * 60 * 1000;

interface LeaseContent {
  pid: number;
  host: string;
  digests: string[];
}

/** One build's lease. */
export class Lease {
  readonly file: string;
  readonly #digests = new Set<string>();
  #writing: Promise<void> = Promise.resolve();

  constructor(readonly dir: string) {
    this.file = join(dir, `${process.pid}-${hostTag()}-${randomBytes(6).toString('hex')}.json`);
  }

  /** Adds digests to the lease and returns once the lease file names them. */
  hold(digests: Iterable<string>): Promise<void> {
    let added = false;
    for (const d of digests) {
      if (!this.#digests.has(d)) {
        this.#digests.add(d);
        added = true;
      }
    }
    if (!added) return this.#writing;
    // Writes are chained so an older list never lands after a newer one.
    this.#writing = this.#writing.catch(() => {}).then(() => this.#write());
    return this.#writing;
  }

  async #write(): Promise<void> {
    const content: LeaseContent = { pid: process.pid, host: hostname(), digests: [...this.#digests] };
    await mkdir(this.dir, { recursive: true });
    const temp = `${this.file}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(temp, JSON.stringify(content));
    await rename(temp, this.file);
  }

  /** Ends the lease. */
  async release(): Promise<void> {
    await this.#writing.catch(() => {});
    await rm(this.file, { force: true });
  }
}

/**
 * The digests named by live leases in `dir`; stale lease files (and
 * leftover temporary files) are removed on the way.
 */
export async function leasedDigests(dir: string): Promise<Set<string>> {
  const out = new Set<string>();
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const path = join(dir, name);
    const info = await stat(path).catch(() => undefined);
    if (!info) continue;
    const old = Date.now() - info.mtimeMs > STALE_MS;
    if (!name.endsWith('.json')) {
      // A temporary file: its writer renames it within milliseconds, or died.
      if (Date.now() - info.mtimeMs > 60_000) await rm(path, { force: true });
      continue;
    }
    let content: Partial<LeaseContent> | undefined;
    try {
      content = JSON.parse(await readFile(path, 'utf8')) as Partial<LeaseContent>;
    } catch {
      content = undefined;
    }
    const dead = content?.host === hostname() && typeof content.pid === 'number' && !processAlive(content.pid);
    if (old || dead) {
      await rm(path, { force: true });
      continue;
    }
    for (const d of Array.isArray(content?.digests) ? content.digests : []) if (typeof d === 'string') out.add(d);
  }
  return out;
}

let tag: string | undefined;
function hostTag(): string {
  tag ??= Buffer.from(hostname()).toString('hex').slice(0, 16) || 'host';
  return tag;
}
