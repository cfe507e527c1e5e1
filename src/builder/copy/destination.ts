/**
 * Where COPY/ADD write: the one rule for the destination path, shared by the
 * step that copies and the cache key that names the step's inputs.
 * @module
 */
import { cleanDest } from './copy.js';

/** The destination of COPY/ADD: absolute, relative ones against WORKDIR, a trailing `/` kept. */
export function destinationPath(workdir: string | undefined, dest: string): string {
  let p = dest;
  if (p === '.' || p === '') p = './';
  const base = p.startsWith('/') ? '' : workdir && workdir !== '' ? workdir : '/';
  const joined = cleanDest(`${base}/${p}`);
  const keepSlash = p.endsWith('/') || p.endsWith('/.');
  return keepSlash && joined !== '/' ? joined + '/' : joined;
}
