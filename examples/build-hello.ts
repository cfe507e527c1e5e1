/**
 * Builds examples/hello into a store and prints what docs/build.md shows.
 *
 *   npx tsx examples/build-hello.ts [STORE_DIR]
 *
 * In your own code, import from 'layerkit' instead of the source tree.
 */
import { build, ImageStore } from '../src/index.js';

// STORE_DIR, else the default per-user store (~/.local/share/layerkit or $LAYERKIT_HOME).
const store = process.argv[2] === undefined ? new ImageStore() : new ImageStore(process.argv[2]);
const result = await build({
  context: new URL('./hello', import.meta.url).pathname,
  store,
  tags: ['hello:dev'],
  sourceDateEpoch: 1700000000,
  onEvent(event) {
    if (event.type === 'step-start') console.log(`[${event.step.stage} ${event.step.index}/${event.step.total}] ${event.step.instruction}`);
    if (event.type === 'warning') console.warn(`warning: ${event.message}`);
  },
});

console.log('digest  ', result.digest);
console.log('image ID', result.imageId);
console.log('config  ', (await result.image.config()).config);
