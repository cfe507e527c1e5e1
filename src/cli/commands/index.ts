/**
 * The command table of the `layerkit` CLI.
 * @module
 */
import type { Command } from '../io.js';
import { buildCommand } from './build.js';
import { containerVerbCommands } from './container-verbs.js';
import { containerCommands } from './containers.js';
import { imageCommands } from './images.js';
import { parseCommand } from './parse.js';
import { registryCommands } from './registry.js';

const containerNames = new Set([...containerCommands, ...containerVerbCommands].map((c) => c.name));

/**
 * Every subcommand, in the order `layerkit --help` lists them. `diff` is
 * the container verbs' (it also compares two images), so a same-named image
 * verb is left out rather than shadowed silently.
 */
export const commands: readonly Command[] = [buildCommand, ...imageCommands.filter((c) => !containerNames.has(c.name)), ...containerCommands, ...containerVerbCommands, ...registryCommands, parseCommand];
