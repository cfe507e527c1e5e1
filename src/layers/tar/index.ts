export { writeTar, type WriteTarOptions } from './write.js';
export { readTar, type ReadTarOptions, type TarMember } from './read.js';
