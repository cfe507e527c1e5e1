/**
 * HEALTHCHECK: `NONE`, or `CMD` with its timing flags.
 * @module
 */
import { goQuote } from '../shell/runes.js';
import { goToUpper } from '../syntax/chars.js';
import type { InstructionContext } from './context.js';
import type { FlagValue } from './flags.js';
import { GoValueError, parseGoDuration, parseGoInt32 } from './go-values.js';
import { commandLine } from './parse-run.js';
import type { HealthcheckInstruction } from './types.js';

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
    return { ...ctx.base('healthcheck'), test: ['NONE'], ...none };
  }

  const interval = ctx.flags.addString('interval');
  const timeout = ctx.flags.addString('timeout');
  const startPeriod = ctx.flags.addString('start-period');
  const startInterval = ctx.flags.addString('start-interval');
  const retries = ctx.flags.addString('retries');
  ctx.parseFlags();

  if (type !== 'CMD') throw ctx.error(`Unknown type ${goQuote(type)} in HEALTHCHECK (try CMD)`);
  const command = commandLine(rest, ctx.node.json);
  const test = 'exec' in command ? ['CMD', ...command.exec] : ['CMD-SHELL', command.shell];
  if (rest.length === 0) throw ctx.error('Missing command after HEALTHCHECK CMD');

  const duration = (name: string, flag: FlagValue): number => {
    if (flag.value === '') return 0;
    let value: bigint;
    try {
      value = parseGoDuration(flag.value);
    } catch (err) {
      if (err instanceof GoValueError) throw ctx.errorAtFlag(name, err.message);
      throw err;
    }
    if (value === 0n) return 0;
    if (value < MINIMUM_INTERVAL) throw ctx.errorAtFlag(name, `Interval ${goQuote(name)} cannot be less than 1ms`);
    return Number(value);
  };
  const result = {
    interval: duration('interval', interval),
    timeout: duration('timeout', timeout),
    startPeriod: duration('start-period', startPeriod),
    startInterval: duration('start-interval', startInterval),
    retries: 0,
  };
  if (retries.value !== '') {
    try {
      result.retries = parseGoInt32(retries.value);
    } catch (err) {
      if (err instanceof GoValueError) throw ctx.errorAtFlag('retries', err.message);
      throw err;
    }
    if (result.retries < 0) throw ctx.errorAtFlag('retries', `--retries cannot be negative (${result.retries})`);
  }
  return { ...ctx.base('healthcheck'), test, ...result };
}
