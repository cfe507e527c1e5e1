/**
 * Docker's `.dockerignore` pattern matcher, with moby/patternmatcher's exact
 * semantics (the library BuildKit, the Docker CLI and buildah use; BuildKit
 * also runs COPY/ADD `--exclude` patterns through it).
 *
 * Behaviour that differs from gitignore or minimatch, all deliberate here:
 * - every pattern is cleaned with Go's `filepath.Clean` (`./a/` → `a`), then
 *   matched against the whole slash-separated path relative to the root;
 *   there is no "match the basename anywhere" rule (`*.md` matches only
 *   top-level files; a leading `**` reaches every level);
 * - `*` and `?` never cross `/`; `**` crosses any number of directories, and
 *   a leading `**` or a pattern with no glob at all is compared as a plain
 *   prefix/suffix/string (so `**foo` matches `barfoo`);
 * - a pattern that matches a directory matches everything below it;
 * - `!pattern` re-includes; the last pattern that matches decides;
 * - `[…]` classes and `\` escapes are handed to a Go regular expression as
 *   written (so `[^a]` can match `/`, and `a\b` is a word boundary);
 * - a pattern must be valid for Go's `filepath.Match` (checked when the matcher
 *   is built) and must compile as a Go regexp (checked on first use, so a bad
 *   pattern that is never consulted never fails, as in Docker).
 * @module
 */
import { ContextError } from './errors.js';
import { BadPatternError, goClean, goMatch, goTrimSpace } from './go-path.js';
import { compileGoRegexp, GoRegexpSyntaxError } from './go-regexp.js';

/** Where a pattern came from, for error messages. */
export interface PatternOrigin {
  file?: string;
  /** 1-based line in `file`. */
  line?: number;
}

type MatchKind = 'exact' | 'prefix' | 'suffix' | 'regexp';

/**
 * One cleaned pattern of a {@link PatternMatcher}.
 *
 * @example
 * ```ts
 * const [p] = new PatternMatcher(['./docs/*.md']).patterns;
 * p.cleaned; // 'docs/*.md'
 * p.compiled(); // { kind: 'regexp', goRegexp: '^docs/[^/]*\\.md$' }
 * p.matches('docs/a.md'); // true
 * ```
 */
export class Pattern {
  /** The pattern after cleaning, without its `!`. */
  readonly cleaned: string;
  /** True for a `!` exception (a re-include). */
  readonly exclusion: boolean;
  /** The cleaned pattern split at `/`. */
  readonly dirs: readonly string[];
  readonly origin: PatternOrigin;
  #kind: MatchKind | undefined;
  #regexp: RegExp | undefined;
  #broken = false;

  constructor(cleaned: string, exclusion: boolean, origin: PatternOrigin) {
    this.cleaned = cleaned;
    this.exclusion = exclusion;
    this.dirs = cleaned.split('/');
    this.origin = origin;
  }

  /** The pattern as written after cleaning, with its `!` if any. */
  toString(): string {
    return (this.exclusion ? '!' : '') + this.cleaned;
  }

  /**
   * The Go regular expression Docker builds for this pattern, and how the
   * pattern is compared (`exact`/`prefix`/`suffix` skip the regexp).
   */
  compiled(): { kind: MatchKind; goRegexp: string } {
    return compilePattern(this.cleaned);
  }

  /** Whether `path` (relative, slash-separated) matches this pattern alone. */
  matches(path: string): boolean {
    if (this.#kind === undefined && !this.#broken) this.#compile();
    if (this.#broken) throw this.#badPattern('not a valid regular expression');
    switch (this.#kind) {
      case 'exact':
        return path === this.cleaned;
      case 'prefix':
        return path.startsWith(this.cleaned.slice(0, -2));
      case 'suffix': {
        const suffix = this.cleaned.slice(2);
        return path.endsWith(suffix) || (suffix.startsWith('/') && path === suffix.slice(1));
      }
      default:
        return this.#regexp!.test(path);
    }
  }

  #compile(): void {
    const { kind, goRegexp } = compilePattern(this.cleaned);
    if (kind === 'regexp') {
      try {
        this.#regexp = compileGoRegexp(goRegexp);
      } catch (err) {
        if (!(err instanceof GoRegexpSyntaxError)) throw err;
        this.#broken = true;
        return;
      }
    }
    this.#kind = kind;
  }

  #badPattern(reason: string): ContextError {
    const text = this.toString();
    return new ContextError('CONTEXT_BAD_PATTERN', `syntax error in pattern ${JSON.stringify(text)}: ${reason}`, {
      pattern: text,
      reason,
      ...this.origin,
    });
  }
}

// Characters that mean something in a Go regexp but nothing in filepath.Match.
const REGEXP_ONLY = new Set(['.', '+', '(', ')', '|', '{', '}', '$']);

/** moby/patternmatcher's Pattern.compile for a `/` separator. */
function compilePattern(pattern: string): { kind: MatchKind; goRegexp: string } {
  const chars = Array.from(pattern);
  let regexp = '^';
  let kind: MatchKind = 'exact';
  let pos = 0;
  for (let step = 0; pos < chars.length; step++) {
    const ch = chars[pos++]!;
    if (ch === '*') {
      if (chars[pos] === '*') {
        pos++;
        if (chars[pos] === '/') pos++; // "**/" is read as "**"
        if (pos === chars.length) {
          // A trailing "**" accepts everything, as in .gitignore.
          if (kind === 'exact') kind = 'prefix';
          else {
            regexp += '.*';
            kind = 'regexp';
          }
        } else {
          regexp += '(.*/)?';
          kind = 'regexp';
        }
        if (step === 0) kind = 'suffix';
      } else {
        regexp += '[^/]*';
        kind = 'regexp';
      }
    } else if (ch === '?') {
      regexp += '[^/]';
      kind = 'regexp';
    } else if (REGEXP_ONLY.has(ch)) {
      regexp += '\\' + ch;
    } else if (ch === '\\') {
      if (pos < chars.length) {
        regexp += '\\' + chars[pos++];
        kind = 'regexp';
      } else {
        regexp += '\\';
      }
    } else if (ch === '[' || ch === ']') {
      regexp += ch;
      kind = 'regexp';
    } else {
      regexp += ch;
    }
  }
  return { kind, goRegexp: kind === 'regexp' ? regexp + '$' : '' };
}

/**
 * Per-pattern results for a directory, handed to its children so each level
 * of a walk costs one regexp test per pattern (patternmatcher's `MatchInfo`).
 * The empty value means "nothing known about the parents".
 */
export type MatchInfo = readonly boolean[];

/** The MatchInfo of the context root: no parent results. */
export const NO_PARENT_INFO: MatchInfo = [];

/**
 * An ordered list of `.dockerignore`-style patterns (moby/patternmatcher).
 *
 * @example
 * ```ts
 * const m = new PatternMatcher(['docs', '!docs/README.md']);
 * m.matches('docs/guide.md'); // true  (excluded)
 * m.matches('docs/README.md'); // false (re-included)
 * ```
 */
export class PatternMatcher {
  readonly patterns: readonly Pattern[];
  /** True when at least one pattern is a `!` exception. */
  readonly hasExclusions: boolean;

  /**
   * @param patterns raw patterns; each is trimmed, cleaned, and `!` marks an exception.
   * @param origins optional origin of each pattern (same index), for error messages.
   * @throws {@link ContextError} `CONTEXT_BAD_PATTERN` for `!` alone or a pattern `filepath.Match` rejects.
   */
  constructor(patterns: readonly string[], origins: readonly PatternOrigin[] = []) {
    const list: Pattern[] = [];
    patterns.forEach((raw, index) => {
      const origin = origins[index] ?? {};
      let p = goTrimSpace(raw);
      if (p === '') return;
      p = goClean(p);
      let exclusion = false;
      if (p.startsWith('!')) {
        if (p.length === 1) {
          throw new ContextError('CONTEXT_BAD_PATTERN', 'illegal exclusion pattern: "!"', {
            pattern: raw,
            reason: 'an exception needs a pattern',
            ...origin,
          });
        }
        exclusion = true;
        p = p.slice(1);
      }
      try {
        goMatch(p, '.');
      } catch (err) {
        if (!(err instanceof BadPatternError)) throw err;
        throw new ContextError('CONTEXT_BAD_PATTERN', `syntax error in pattern ${JSON.stringify(raw)}`, {
          pattern: raw,
          reason: 'not a valid filepath.Match pattern',
          ...origin,
        });
      }
      list.push(new Pattern(p, exclusion, origin));
    });
    this.patterns = list;
    this.hasExclusions = list.some((pattern) => pattern.exclusion);
  }

  /**
   * Whether `path` is matched (excluded), checking every parent directory of
   * `path` against each pattern (patternmatcher's `MatchesOrParentMatches`).
   * Use {@link matchesWithParentInfo} while walking a tree.
   */
  matches(path: string): boolean {
    return this.matchesWithParentInfo(path, NO_PARENT_INFO).matched;
  }

  /**
   * Whether `path` is matched, given the MatchInfo of its parent directory
   * (patternmatcher's `MatchesUsingParentResults`). Returns the MatchInfo to
   * hand to `path`'s own children. With {@link NO_PARENT_INFO} every parent of
   * `path` is checked from scratch.
   */
  matchesWithParentInfo(path: string, parent: MatchInfo): { matched: boolean; info: MatchInfo } {
    const parentKnown = parent.length !== 0;
    if (parentKnown && parent.length !== this.patterns.length) {
      throw new RangeError('MatchInfo belongs to another matcher');
    }
    let matched = false;
    const info = new Array<boolean>(this.patterns.length).fill(false);
    this.patterns.forEach((pattern, i) => {
      let match = parentKnown ? parent[i]! : false;
      if (!match) {
        // An include is only worth testing while unmatched, an exception only while matched.
        if (pattern.exclusion !== matched) return;
        match = pattern.matches(path);
        if (!match && !parentKnown) match = matchesSomeParent(pattern, path);
      }
      info[i] = match;
      if (match) matched = !pattern.exclusion;
    });
    return { matched, info };
  }
}

/** Whether `pattern` matches one of the parent directories of `path` (Go's `filepath.Dir` chain). */
function matchesSomeParent(pattern: Pattern, path: string): boolean {
  const slash = path.lastIndexOf('/');
  if (slash < 0) return false;
  const dirs = goClean(path.slice(0, slash + 1)).split('/');
  for (let i = 1; i <= dirs.length; i++) {
    if (pattern.matches(dirs.slice(0, i).join('/'))) return true;
  }
  return false;
}
