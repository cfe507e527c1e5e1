/**
 * `COPY --chmod` values: octal (`0755`, `644`) or, as current BuildKit
 * accepts, chmod(1) symbolic modes (`u+x`, `a=rX,u+w`, `go-w`) applied to
 * each copied object's own mode with a umask of 0.
 * @module
 */

/** A parsed `--chmod`: how each copied object's permission bits change. */
export interface ChmodSpec {
  /** The value as written. */
  text: string;
  /** The octal mode, when the value was octal (also the mode of created parent directories). */
  octal?: number;
  /** The new permission and special bits of an object with `mode` (`0o7777` mask). */
  apply(mode: number, isDir: boolean): number;
}

const WHO_BITS = { u: 0o4700, g: 0o2070, o: 0o1007 } as const;

/**
 * Parses a `--chmod` value; returns undefined when it is neither octal nor
 * a valid symbolic mode (the caller reports it with the instruction).
 *
 * @example
 * ```ts
 * parseChmod('755')?.apply(0o644, false); // 0o755
 * parseChmod('u+x,go-w')?.apply(0o666, false); // 0o744
 * parseChmod('a+X')?.apply(0o644, true); // 0o755
 * ```
 */
export function parseChmod(text: string): ChmodSpec | undefined {
  if (/^[0-7]+$/.test(text)) {
    const value = Number.parseInt(text, 8);
    if (value > 0o7777) return undefined;
    return { text, octal: value, apply: () => value };
  }
  const clauses: Array<(mode: number, isDir: boolean) => number> = [];
  for (const clause of text.split(',')) {
    const parsed = parseClause(clause);
    if (!parsed) return undefined;
    clauses.push(parsed);
  }
  return {
    text,
    apply(mode, isDir) {
      let m = mode & 0o7777;
      for (const clause of clauses) m = clause(m, isDir);
      return m;
    },
  };
}

function parseClause(clause: string): ((mode: number, isDir: boolean) => number) | undefined {
  const match = /^([ugoa]*)((?:[-+=](?:[rwxXst]*|[ugo]))+)$/.exec(clause);
  if (!match) return undefined;
  const who = match[1]!;
  let mask = 0;
  for (const w of who === '' ? 'a' : who) mask |= w === 'a' ? 0o7777 : WHO_BITS[w as 'u' | 'g' | 'o'];
  const actions = [...match[2]!.matchAll(/([-+=])([ugo]|[rwxXst]*)/g)].map((m) => ({ op: m[1]!, perms: m[2]! }));
  return (mode, isDir) => {
    let m = mode;
    for (const { op, perms } of actions) {
      let bits = 0;
      if (perms === 'u' || perms === 'g' || perms === 'o') {
        // Copy the permissions of one class to the selected classes.
        const shift = perms === 'u' ? 6 : perms === 'g' ? 3 : 0;
        const rwx = (m >> shift) & 0o7;
        bits = (rwx << 6) | (rwx << 3) | rwx;
      } else {
        for (const p of perms) {
          if (p === 'r') bits |= 0o444;
          else if (p === 'w') bits |= 0o222;
          else if (p === 'x') bits |= 0o111;
          else if (p === 'X') {
            if (isDir || (m & 0o111) !== 0) bits |= 0o111;
          } else if (p === 's') bits |= 0o6000;
          else if (p === 't') bits |= 0o1000;
        }
      }
      bits &= mask;
      if (op === '+') m |= bits;
      else if (op === '-') m &= ~bits;
      else m = (m & ~mask) | bits;
    }
    return m & 0o7777;
  };
}
