/**
 * Instructions that change only the image config: ENV, LABEL, EXPOSE, USER,
 * CMD, ENTRYPOINT, VOLUME, STOPSIGNAL, HEALTHCHECK, SHELL, ONBUILD,
 * MAINTAINER, ARG — with BuildKit's history text for each.
 * @module
 */
import type { Instruction } from '../../dockerfile/instructions/types.js';
import { BuildError, positionOf } from '../errors.js';
import { goDuration, goList, goQuoteList } from '../go-format.js';
import { stageArgValue, expandWord } from '../scope.js';
import type { StageRun, StepOutcome } from './context.js';
import type { Step } from './step.js';

/** The default shell of Linux images. */
export const DEFAULT_SHELL = ['/bin/sh', '-c'];

/** `SHELL + [command]` for shell form, the list as is for exec form. */
export function commandArgs(run: StageRun, command: { shell: string } | { exec: string[] }): string[] {
  if ('exec' in command) return [...command.exec];
  const shell = run.state.container.Shell;
  return [...(shell && shell.length > 0 ? shell : DEFAULT_SHELL), command.shell];
}

/** Sets `key` in a `K=V` list, replacing the first entry of that name (BuildKit's `addEnv`). */
export function setEnv(list: readonly string[], key: string, value: string): string[] {
  const out = [...list];
  const index = out.findIndex((e) => (e.indexOf('=') < 0 ? e : e.slice(0, e.indexOf('='))) === key);
  if (index >= 0) out[index] = `${key}=${value}`;
  else out.push(`${key}=${value}`);
  return out;
}

/**
 * Applies a metadata instruction (already expanded) to the stage's config
 * and variables.
 */
export function applyMetadata(run: StageRun, instruction: Instruction): StepOutcome {
  const { state } = run;
  const c = state.container;
  switch (instruction.kind) {
    case 'env': {
      let text = 'ENV';
      for (const { key, value } of instruction.env) {
        state.setEnv(key, value);
        text += ` ${key}=${value}`;
      }
      return { createdBy: text };
    }
    case 'label': {
      let text = 'LABEL';
      c.Labels = { ...(c.Labels ?? {}) };
      for (const { key, value } of instruction.labels) {
        c.Labels[key] = value;
        text += ` ${key}=${value}`;
      }
      return { createdBy: text };
    }
    case 'expose': {
      const ports = instruction.ports.flatMap((p) => parsePort(p, run, instruction));
      c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
      for (const port of ports) c.ExposedPorts[port] = {};
      return { createdBy: `EXPOSE ${goList(ports)}` };
    }
    case 'user':
      c.User = instruction.user;
      return { createdBy: `USER ${instruction.user}` };
    case 'cmd': {
      const args = commandArgs(run, instruction.command);
      c.Cmd = args;
      c.ArgsEscaped = true;
      run.cmdSet = true;
      return { createdBy: `CMD ${goQuoteList(args)}` };
    }
    case 'entrypoint': {
      const args = commandArgs(run, instruction.command);
      c.Entrypoint = args;
      // Docker's rule: a new ENTRYPOINT drops the CMD inherited from the base.
      if (!run.cmdSet) delete c.Cmd;
      return { createdBy: `ENTRYPOINT ${goQuoteList(args)}` };
    }
    case 'volume': {
      c.Volumes = { ...(c.Volumes ?? {}) };
      for (const v of instruction.volumes) {
        if (v === '') throw new BuildError('INVALID_INSTRUCTION', 'VOLUME specified can not be an empty string', positionOf(instruction, run.plan.label));
        c.Volumes[v] = {};
      }
      return { createdBy: `VOLUME ${goList(instruction.volumes)}` };
    }
    case 'stopsignal': {
      if (!isSignal(instruction.signal)) {
        throw new BuildError('INVALID_INSTRUCTION', `invalid signal: ${instruction.signal}`, positionOf(instruction, run.plan.label));
      }
      c.StopSignal = instruction.signal;
      return { createdBy: `STOPSIGNAL ${instruction.signal}` };
    }
    case 'healthcheck': {
      const h = instruction;
      c.Healthcheck = {
        Test: [...h.test],
        ...(h.interval ? { Interval: h.interval } : {}),
        ...(h.timeout ? { Timeout: h.timeout } : {}),
        ...(h.startPeriod ? { StartPeriod: h.startPeriod } : {}),
        ...(h.startInterval ? { StartInterval: h.startInterval } : {}),
        ...(h.retries ? { Retries: h.retries } : {}),
      };
      const text =
        `HEALTHCHECK {Test:${goList(h.test)} Interval:${goDuration(h.interval)} Timeout:${goDuration(h.timeout)} ` +
        `StartPeriod:${goDuration(h.startPeriod)} StartInterval:${goDuration(h.startInterval)} Retries:${h.retries}}`;
      return { createdBy: text };
    }
    case 'shell':
      c.Shell = [...instruction.shell];
      return { createdBy: `SHELL ${goList(instruction.shell)}` };
    case 'onbuild':
      c.OnBuild = [...(c.OnBuild ?? []), instruction.expression];
      return { createdBy: null };
    case 'maintainer':
      state.config.author = instruction.maintainer;
      return { createdBy: `MAINTAINER ${instruction.maintainer}` };
    case 'arg': {
      const parts: string[] = [];
      for (const arg of instruction.args) {
        run.session.declaredArgs.add(arg.key);
        const { value } = stageArgValue(arg, run.session.buildArgs, run.session.global, (word) =>
          expandWord(run.session.lex, word, state.vars),
        );
        if (value !== undefined) state.vars.set(arg.key, value);
        const existing = state.args.findIndex((a) => a.key === arg.key);
        if (existing >= 0) state.args.splice(existing, 1);
        state.args.push({ key: arg.key, value });
        parts.push(value === undefined ? arg.key : `${arg.key}=${value}`);
      }
      return { createdBy: `ARG ${parts.join(' ')}` };
    }
    default:
      throw new Error(`not a metadata instruction: ${instruction.kind}`);
  }
}

/**
 * The metadata kinds: no layer, no file system. A hit replays the same
 * config change from the instruction (it follows from the instruction and
 * the state before it, which the key covers).
 */
export const metadataStep: Step<Instruction, undefined> = {
  readsFs: false,
  stacks: false,
  prepare: () => undefined,
  async inputs(run, ins) {
    // The values an ARG takes from outside the stage: the build arg, else the global (meta) value.
    if (ins.kind !== 'arg') return [];
    return ins.args.map((a) => [a.key, run.session.buildArgs.get(a.key) ?? null, run.session.global.get(a.key) ?? null]);
  },
  keyAfterRun: () => false,
  independent: () => false,
  execute: async (run, ins) => applyMetadata(run, ins),
  replay: (run, ins) => applyMetadata(run, ins),
};

/** `[ip:][hostPort:]port[-end][/proto]` → `port/proto` for each port of the range. */
function parsePort(raw: string, run: StageRun, instruction: Instruction): string[] {
  const fail = (why: string) =>
    new BuildError('INVALID_INSTRUCTION', `invalid port: ${JSON.stringify(raw)}: ${why}`, positionOf(instruction, run.plan.label));
  const lastColon = raw.lastIndexOf(':');
  const container = lastColon >= 0 ? raw.slice(lastColon + 1) : raw;
  const [range = '', proto = 'tcp'] = container.split('/', 2) as [string, string?];
  if (range === '') throw fail('no port specified');
  if (!/^[a-z]+$/i.test(proto)) throw fail(`invalid proto ${proto}`);
  const [startText = '', endText] = range.split('-', 2) as [string, string?];
  const start = portNumber(startText);
  const end = endText === undefined || endText === startText ? start : portNumber(endText);
  if (start === undefined || end === undefined || end < start) throw fail('invalid containerPort: ' + range);
  const out: string[] = [];
  for (let p = start; p <= end; p++) out.push(`${p}/${proto.toLowerCase()}`);
  return out;
}

function portNumber(text: string): number | undefined {
  if (!/^[0-9]+$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

const SIGNALS = new Set([
  'ABRT', 'ALRM', 'BUS', 'CHLD', 'CLD', 'CONT', 'FPE', 'HUP', 'ILL', 'INT', 'IO', 'IOT', 'KILL', 'PIPE', 'POLL', 'PROF', 'PWR',
  'QUIT', 'SEGV', 'STKFLT', 'STOP', 'SYS', 'TERM', 'TRAP', 'TSTP', 'TTIN', 'TTOU', 'UNUSED', 'URG', 'USR1', 'USR2', 'VTALRM',
  'WINCH', 'XCPU', 'XFSZ', 'RTMIN', 'RTMAX',
]);

/** moby's `signal.ParseSignal`: a number, or a name with or without `SIG` (`RTMIN+3` too). */
export function isSignal(value: string): boolean {
  if (/^[0-9]+$/.test(value)) return Number(value) > 0 && Number(value) <= 64;
  const name = value.toUpperCase().replace(/^SIG/, '');
  if (SIGNALS.has(name)) return true;
  const rt = /^RT(MIN\+|MAX-)([0-9]+)$/.exec(name);
  return rt !== null && Number(rt[2]) <= 30;
}
