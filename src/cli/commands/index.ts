/**
 * The command table of the `layerkit` CLI.
 * @module
 */
import type { Command } from '../io.js';
import { buildCommand } from './build.js';
import { imageCommands } from './images.js';
import { parseCommand } from './parse.js';

/** Every subcommand, in the order `layerkit --help` lists them. */
export const commands: readonly Command[] = [buildCommand, ...imageCommands, parseCommand];
