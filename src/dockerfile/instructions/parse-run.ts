/**
 * Instructions that carry a command line: RUN (with its mount, network,
 * security and device flags), CMD, ENTRYPOINT and SHELL.
 * @module
 */
import { goQuote } from '../shell/runes.js';
import { suggest } from '../suggest.js';
import { goToLower } from '../unicode.js';
import type { InstructionContext } from './context.js';
import { FlagTable } from './flags.js';
import { csvFields, GoValueError, parseGoBool } from './go-values.js';
import { checkMountSyntax, MountError, readMount } from './mount.js';
import type {
  CmdInstruction,
  CommandLine,
  Device,
  EntrypointInstruction,
  Mount,
  RunInstruction,
  ShellInstruction,
} from './types.js';

/** Shell form joins its arguments into one string; exec form keeps the JSON array. */
export function commandLine(args: readonly string[], json: boolean): CommandLine {
  if (json) return { exec: [...args] };
  return { shell: args.join(' ') };
}

/** True when expanding `value` with this escape token could change it. */
export function needsExpansion(value: string, escapeToken: string): boolean {
  return value.includes('$') || value.includes("'") || value.includes('"') || value.includes(escapeToken);
}

// Declared in the order BuildKit's hooks register them.
const RUN_FLAGS = new FlagTable({
  device: 'strings',
  mount: 'strings',
  network: { kind: 'string', default: 'default' },
  security: { kind: 'string', default: 'sandbox' },
});

const NETWORK_MODES = ['default', 'none', 'host'] as const;
const SECURITY_MODES = ['sandbox', 'insecure'] as const;

/** `RUN [--mount=…]… [--network=…] [--security=…] [--device=…]… command`. */
export function parseRun(ctx: InstructionContext): RunInstruction {
  const { values: flags, used: flagsUsed } = ctx.parseFlags(RUN_FLAGS);
  const command = commandLine(ctx.args, ctx.node.json);
  const heredocs = ctx.node.heredocs.map((h) => ({ name: h.name, content: h.content, chomp: h.chomp }));

  const devices = flags.device.map((spec, i) => {
    try {
      return parseDevice(spec);
    } catch (err) {
      if (err instanceof MountError) throw ctx.errorAtFlag('device', err.message, err.suggestion, i);
      throw err;
    }
  });

  const mounts = flags.mount.map((spec, i) => {
    try {
      checkMountSyntax(spec);
      return readMount(spec, { needsExpansion: (value) => needsExpansion(value, ctx.escapeToken) });
    } catch (err) {
      if (err instanceof MountError) throw ctx.errorAtFlag('mount', err.message, err.suggestion, i);
      throw err;
    }
  });

  if (!(NETWORK_MODES as readonly string[]).includes(flags.network)) {
    throw ctx.errorAtFlag('network', `invalid network mode ${goQuote(flags.network)}`);
  }
  if (!(SECURITY_MODES as readonly string[]).includes(flags.security)) {
    throw ctx.errorAtFlag('security', `security ${goQuote(flags.security)} is not valid`);
  }

  return Object.assign(ctx.base('run'), {
    command,
    heredocs,
    mounts,
    mountSpecs: flags.mount,
    network: flags.network as RunInstruction['network'],
    security: flags.security as RunInstruction['security'],
    devices,
    flagsUsed,
  });
}

/** Re-reads a RUN's mounts with each value expanded (BuildKit's build-time pass). */
export function expandMounts(specs: readonly string[], expand: (word: string) => string): Mount[] {
  return specs.map((spec) => readMount(spec, { expand }));
}

/** One `--device` value: a CDI device name, optionally `required`. */
export function parseDevice(spec: string): Device {
  let parts: string[];
  try {
    parts = csvFields(spec);
  } catch (err) {
    if (err instanceof GoValueError) throw new MountError(`failed to parse csv devices: ${err.message}`);
    throw err;
  }
  const device: Device = { name: '', required: false };
  for (const field of parts) {
    const eq = field.indexOf('=');
    const key = goToLower(eq < 0 ? field : field.slice(0, eq));
    const value = eq < 0 ? '' : field.slice(eq + 1);
    if (eq < 0) {
      if (key === 'required') device.required = true;
      else if (device.name === '') device.name = field;
      else throw new MountError(`invalid field '${field}' must be a key=value pair`);
      continue;
    }
    if (key === 'name') {
      if (device.name !== '') throw new MountError(`device name already set to ${device.name}`);
      device.name = value;
    } else if (key === 'required') {
      const flag = parseGoBool(value);
      if (flag === undefined) throw new MountError(`invalid value for ${key}: ${value}`);
      device.required = flag;
    } else if (device.name === '') {
      device.name = field;
    } else {
      const match = suggest(key, ['name', 'required'], { caseSensitive: true });
      const message = `unexpected key '${key}' in '${field}'`;
      throw new MountError(match === undefined ? message : `${message} (did you mean ${match}?)`, match);
    }
  }
  return device;
}

/** `CMD command`. */
export function parseCmd(ctx: InstructionContext): CmdInstruction {
  ctx.rejectFlags();
  return Object.assign(ctx.base('cmd'), { command: commandLine(ctx.args, ctx.node.json) });
}

/** `ENTRYPOINT command`. */
export function parseEntrypoint(ctx: InstructionContext): EntrypointInstruction {
  ctx.rejectFlags();
  return Object.assign(ctx.base('entrypoint'), { command: commandLine(ctx.args, ctx.node.json) });
}

/** `SHELL ["executable", "parameters"…]`: JSON form only. */
export function parseShell(ctx: InstructionContext): ShellInstruction {
  ctx.rejectFlags();
  if (ctx.args.length === 0) throw ctx.error('SHELL requires at least one argument');
  if (!ctx.node.json) throw ctx.error('SHELL requires the arguments to be in JSON form');
  return Object.assign(ctx.base('shell'), { shell: [...ctx.args] });
}
