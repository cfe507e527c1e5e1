/**
 * The build context: what COPY/ADD read from and what the build cache hashes.
 * `.dockerignore` and `--exclude` with Docker's own pattern semantics, COPY
 * source selection as BuildKit performs it, and incremental content checksums.
 * @module
 */
export { openContext, BuildContext, type OpenContextOptions, type IgnoreInfo } from './context.js';
export type { CopySource, SourceEntry, ResolveSourcesOptions } from './sources.js';
export type { EscapePolicy } from './resolve.js';
export type { ChecksumOptions } from './checksum.js';
export type { ChecksumTap } from './checksum-tap.js';
export { StatCache, type StatCacheStats } from './stat-cache.js';
export { ContextError, ContextFsError, type ContextErrorCode, type ContextErrorData, type ContextFsErrorCode } from './errors.js';
export { parseDockerignore, dockerfileIgnoreName, type IgnorePatterns } from './dockerignore.js';
export { PatternMatcher, Pattern, type MatchInfo, type PatternOrigin } from './patternmatcher.js';
export { getfattrReader, type XattrReader as BatchXattrReader } from './xattrs.js';
