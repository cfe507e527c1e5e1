export { writeTar, type WriteTarOptions } from './write.js';
export type { ExternalHardlinks } from './link-groups.js';
export { readTar, type ReadTarOptions, type TarMember } from './read.js';
export { looksLikeTar } from './header.js';
