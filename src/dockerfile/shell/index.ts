/**
 * Shell-word expansion with BuildKit's rules: what `COPY`, `ENV`, `FROM` and
 * friends do to `$VAR`, `${VAR:-x}`, quotes and escapes before using a word.
 *
 * @example
 * ```ts
 * import { ShellLex } from 'layerkit';
 * new ShellLex().processWord('/opt/${APP:-demo}', { APP: 'web' }); // '/opt/web'
 * ```
 * @module
 */
export { ShellLex, type ShellLexOptions, type WordExpansion } from './lex.js';
export { ShellExpansionError, type ShellExpansionErrorData, type ShellExpansionReason } from './errors.js';
export { envFromList, type EnvLookup, type ShellEnv } from './env.js';
