/**
 * HEALTHCHECK: `NONE`, or `CMD` with its timing flags.
 * @module
 */
import { goQuote } from '../shell/runes.js';
import { goToUpper } from '../unicode.js';
import type { InstructionContext } from './context.js';
import { FlagTable } from './flags.js';
import { GoValueError, parseGoDuration, parseGoInt32 } from './go-values.js';
import { commandLine } from './parse-run.js';
import type { HealthcheckInstruction } from './types.js';

const HEALTHCHECK_FLAGS = new FlagTable({
  interval: 'string',
  timeout: 'string',
  'start-period': 'string',
  'start-interval': 'string',
  retries: 'string',
});

const MINIMUM_INTERVAL = 1_000_000n; // 1ms

/**
 * `HEALTHCHECK [--interval=d] [--timeout=d] [--start-period=d]
 * [--start-interval=d] [--retries=n] CMD command` or `HEALTHCHECK NONE`.
 */
export function parseHealthcheck(ctx: InstructionContext): HealthcheckInstruction {
  if (ctx.args.length === 0) throw ctx.error('HEALTHCHECK requires at least one argument');
  const type = goToUpper(ctx.args[0]!);
  const rest = ctx.args.slice(1);
  const none = { interval: 0, timeout: 0, startPeriod: 0, startInterval: 0, retries: 0 };
  if (type === 'NONE') {
    // BuildKit reads no flags here: any given are ignored.
    if (rest.length !== 0) throw ctx.error('HEALTHCHECK NONE takes no arguments');
    return Object.assign(ctx.base('healthcheck'), { test: ['NONE'] }, none);
  }

  const { values: flags } = ctx.parseFlags(HEALTHCHECK_FLAGS);

  if (type !== 'CMD') throw ctx.error(`Unknown type ${goQuote(type)} in HEALTHCHECK (try CMD)`);
  const command = commandLine(rest, ctx.node.json);
  const test = 'exec' in command ? ['CMD', ...command.exec] : ['CMD-SHELL', command.shell];
  if (rest.length === 0) throw ctx.error('Missing command after HEALTHCHECK CMD');

  const duration = (name: 'interval' | 'timeout' | 'start-period' | 'start-interval'): number => {
    const text = flags[name];
    if (text === '') return 0;
    let value: bigint;
    try {
      value = parseGoDuration(text);
    } catch (err) {
      if (err instanceof GoValueError) throw ctx.errorAtFlag(name, err.message);
      throw err;
    }
    if (value === 0n) return 0;
    if (value < MINIMUM_INTERVAL) throw ctx.errorAtFlag(name, `Interval ${goQuote(name)} cannot be less than 1ms`);
    return Number(value);
  };
  const result = {
    interval: duration('interval'),
    timeout: duration('timeout'),
    startPeriod: duration('start-period'),
    startInterval: duration('start-interval'),
    retries: 0,
  };
  if (flags.retries !== '') {
    try {
      result.retries = parseGoInt32(flags.retries);
    } catch (err) {
      if (err instanceof GoValueError) throw ctx.errorAtFlag('retries', err.message);
      throw err;
    }
    if (result.retries < 0) throw ctx.errorAtFlag('retries', `--retries cannot be negative (${result.retries})`);
  }
  return Object.assign(ctx.base('healthcheck'), { test }, result);
}
