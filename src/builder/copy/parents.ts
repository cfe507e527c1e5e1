/**
 * `COPY --parents`: sources keep their path below the context root (or
 * below a `/./` pivot: `COPY --parents ./src/./app/*.js /out/` copies to
 * `/out/app/…`). BuildKit implements it as a copy of the pivot directory
 * filtered by an include pattern (`.dockerignore` syntax), creating the
 * directories on the way with their source metadata.
 * @module
 */
import { containsWildcards, goClean } from '../../context/go-path.js';
import { PatternMatcher } from '../../context/patternmatcher.js';
import type { Entry } from '../../layers/entry.js';
import type { CopyItem, SourceFs } from './sources.js';

/** The items of one `--parents` source. */
export async function parentsItems(fs: SourceFs, source: string, excludes: readonly string[]): Promise<CopyItem[]> {
  const cut = source.indexOf('/./');
  const pivot = cut < 0 ? '/' : goClean('/' + source.slice(0, cut));
  const pattern = goClean('/' + (cut < 0 ? source : source.slice(cut + 3))).replace(/^\/+/, '');
  if (!containsWildcards(pivot) && !containsWildcards(pattern)) {
    // The named path must exist (BuildKit's RequiredPaths); select() throws if not.
    await fs.select([pivot === '/' ? pattern : `${pivot}/${pattern}`]);
  }
  const [root] = await fs.select([pivot], { excludes });
  if (!root) return [];
  if (pattern === '' || pattern === '.') return [root];
  const include = new PatternMatcher([pattern]);
  const filtered: CopyItem = {
    source,
    path: root.path,
    name: root.name,
    type: root.type,
    async *entries() {
      // Directories not matched themselves wait until something below them is.
      const pending: Array<{ rel: string; entry: Entry }> = [];
      for await (const item of root.entries()) {
        const { rel, entry } = item;
        if (rel === '') {
          yield item;
          continue;
        }
        while (pending.length > 0 && !rel.startsWith(pending[pending.length - 1]!.rel + '/')) pending.pop();
        if (include.matches(rel)) {
          yield* pending.splice(0);
          yield item;
        } else if (entry.type === 'dir') {
          pending.push(item);
        }
      }
    },
  };
  return [filtered];
}
