/**
 * Reading `.dockerignore` files (moby/patternmatcher `ignorefile.ReadAll`).
 * @module
 */
import { ContextError } from './errors.js';
import { goClean, goTrimSpace } from './go-path.js';
import type { PatternOrigin } from './patternmatcher.js';

/** Patterns read from an ignore file, with the line each came from. */
export interface IgnorePatterns {
  /** Cleaned patterns in file order, `!` kept in front of exceptions. */
  patterns: string[];
  /** For each pattern (same index): its file and 1-based line. */
  origins: PatternOrigin[];
}

// bufio.Scanner's default limit: a line of 64 KiB or more stops Docker with "token too long".
const MAX_LINE_BYTES = 64 * 1024;

const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * Parses `.dockerignore` content exactly as Docker does:
 * - a UTF-8 BOM is dropped from the first line;
 * - a line whose first character is `#` is a comment (only there: `  # x` and
 *   `a # b` are patterns);
 * - surrounding whitespace is trimmed and blank lines are skipped;
 * - a leading `!` marks an exception (whitespace after it is trimmed too);
 * - the rest is cleaned with Go's `filepath.Clean` (`./a//b/` → `a/b`,
 *   `a/../b` → `b`) and one leading `/` is removed (`/a` ≡ `a`);
 * - CRLF line ends are accepted.
 *
 * @param file name reported in errors and origins (e.g. `.dockerignore`).
 * @throws {@link ContextError} `CONTEXT_BAD_PATTERN` for a line of 64 KiB or more.
 * @example
 * ```ts
 * parseDockerignore('# deps\nnode_modules/\n!node_modules/keep\n/dist\n').patterns;
 * // ['node_modules', '!node_modules/keep', 'dist']
 * ```
 */
export function parseDockerignore(content: string | Uint8Array, file = '.dockerignore'): IgnorePatterns {
  const bytes = typeof content === 'string' ? new TextEncoder().encode(content) : content;
  const patterns: string[] = [];
  const origins: PatternOrigin[] = [];
  let start = 0;
  for (let line = 1; start < bytes.length; line++) {
    let end = bytes.indexOf(0x0a, start);
    const next = end < 0 ? bytes.length : end + 1;
    if (end < 0) end = bytes.length;
    if (end - start >= MAX_LINE_BYTES) {
      throw new ContextError('CONTEXT_BAD_PATTERN', `failed parsing ${file}: line ${line} is 64 KiB or longer`, {
        file,
        line,
        reason: 'line too long',
      });
    }
    let lineEnd = end;
    if (lineEnd > start && bytes[lineEnd - 1] === 0x0d) lineEnd--;
    let lineStart = start;
    if (line === 1 && bytes[start] === 0xef && bytes[start + 1] === 0xbb && bytes[start + 2] === 0xbf) {
      lineStart = Math.min(start + 3, lineEnd);
    }
    start = next;
    const text = decoder.decode(bytes.subarray(lineStart, lineEnd));
    if (text.startsWith('#')) continue;
    const pattern = cleanIgnoreLine(text);
    if (pattern === undefined) continue;
    patterns.push(pattern);
    origins.push({ file, line });
  }
  return { patterns, origins };
}

/** One non-comment line → its pattern, or undefined for a blank line. */
function cleanIgnoreLine(text: string): string | undefined {
  let pattern = goTrimSpace(text);
  if (pattern === '') return undefined;
  const invert = pattern.startsWith('!');
  if (invert) pattern = goTrimSpace(pattern.slice(1));
  if (pattern.length > 0) {
    pattern = goClean(pattern);
    if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
  }
  return invert ? '!' + pattern : pattern;
}

/** The name of the context-wide ignore file. */
export const DOCKERIGNORE = '.dockerignore';

/**
 * The Dockerfile-specific ignore file BuildKit looks for first:
 * `<Dockerfile path>.dockerignore` (e.g. `build/app.Dockerfile.dockerignore`).
 *
 * @example
 * ```ts
 * dockerfileIgnoreName('docker/Dockerfile.prod'); // 'docker/Dockerfile.prod.dockerignore'
 * ```
 */
export function dockerfileIgnoreName(dockerfilePath: string): string {
  return `${dockerfilePath}${DOCKERIGNORE}`;
}
