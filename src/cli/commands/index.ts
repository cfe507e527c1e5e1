/**
 * The command table of `layerkit`: add a command by adding it here.
 * @module
 */
import type { Command } from '../io.js';
import { parseCommand } from './parse.js';

/** Every subcommand, in the order `layerkit --help` lists them. */
export const commands: readonly Command[] = [parseCommand];
