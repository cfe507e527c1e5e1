// Shared helper of the resolution tests (not a test file itself): the kernel's own answer to
// "what does PATH name under chroot ROOT", from openat2(2) with RESOLVE_IN_ROOT (Linux >= 5.6),
// asked through one long-lived python3 process (Node has no binding for openat2).
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

/** The kernel's answer: the resolved path inside the root, or the errno name. */
export type KernelAnswer = { path: string } | { error: string };

const SCRIPT = String.raw`
import ctypes, errno, json, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
SYS_openat2 = 437
RESOLVE_IN_ROOT = 0x10
O_PATH = 0o10000000
O_NOFOLLOW = 0o400000
O_CLOEXEC = 0o2000000
def resolve(root, path, follow):
    rfd = os.open(root, O_PATH | os.O_DIRECTORY)
    try:
        how = struct.pack('QQQ', O_PATH | O_CLOEXEC | (0 if follow else O_NOFOLLOW), 0, RESOLVE_IN_ROOT)
        buf = ctypes.create_string_buffer(how, len(how))
        fd = libc.syscall(SYS_openat2, rfd, path.encode(), buf, len(how))
        if fd < 0:
            n = ctypes.get_errno()
            return {'error': errno.errorcode.get(n, str(n))}
        try:
            p = os.readlink('/proc/self/fd/%d' % fd)
        finally:
            os.close(fd)
        real = os.path.realpath(root)
        if p == real:
            return {'path': '/'}
        prefix = '' if real == '/' else real
        if not p.startswith(prefix + '/'):
            return {'error': 'OUTSIDE ' + p}
        return {'path': p[len(prefix):]}
    finally:
        os.close(rfd)
for line in sys.stdin:
    q = json.loads(line)
    print(json.dumps(resolve(q['root'], q['path'], q['follow'])), flush=True)
`;

/** Asks the kernel to resolve paths; one request at a time. */
export class KernelResolver {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #answers: ((line: string) => void)[] = [];

  private constructor() {
    this.#child = spawn('python3', ['-c', SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    createInterface({ input: this.#child.stdout }).on('line', (line) => this.#answers.shift()?.(line));
    // A dead oracle answers what is still pending with an error rather than leaving it waiting.
    this.#child.once('exit', (code) => {
      for (const answer of this.#answers.splice(0)) answer(JSON.stringify({ error: `python3 exited with ${code}` }));
    });
  }

  /**
   * A resolver, or undefined (with the reason printed) when python3 or
   * openat2 is missing here; under CI a missing one is an error.
   */
  static start(): KernelResolver | undefined {
    const probe = spawnSync('python3', ['-c', SCRIPT], { input: JSON.stringify({ root: '/', path: 'proc', follow: true }) + '\n', encoding: 'utf8' });
    const ok = !probe.error && probe.status === 0 && probe.stdout.includes('"path": "/proc"');
    if (!ok) {
      const reason = probe.error ? 'python3 not found' : `openat2(RESOLVE_IN_ROOT) unavailable: ${probe.stdout}${probe.stderr}`.trim();
      if (process.env.CI) throw new Error(`kernel resolution oracle missing (required under CI): ${reason}`);
      console.warn(`skipping the kernel comparison: ${reason}`);
      return undefined;
    }
    return new KernelResolver();
  }

  resolve(root: string, path: string, follow: boolean): Promise<KernelAnswer> {
    return new Promise((resolve) => {
      this.#answers.push((line) => resolve(JSON.parse(line) as KernelAnswer));
      this.#child.stdin.write(JSON.stringify({ root, path, follow }) + '\n');
    });
  }

  /** Ends the python process and waits for it. */
  async close(): Promise<void> {
    const exited = new Promise((resolve) => this.#child.once('exit', resolve));
    this.#child.stdin.end();
    await exited;
  }
}
