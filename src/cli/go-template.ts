/**
 * The subset of Go's text/template that `docker … --format` users type:
 * fields (`{{.Id}}`, `{{.Config.Env}}`), variables, pipes, parentheses,
 * `if`/`else`/`with`/`range`/`end` (with `{{-`/`-}}` trimming), and Docker's
 * functions (`json`, `index`, `join`, `split`, `upper`, `lower`, `title`,
 * `len`, `printf`, `println`, `pad`, `truncate`, `eq`/`ne`/`not`/`and`/`or`).
 * Values print as Go's `%v` does: a list as `[a b]`, a map as
 * `map[k:v]` (sorted keys), a missing key as `<no value>`.
 * @module
 */
import { LayerkitError } from '../index.js';

/**
 * A `--format` template that does not parse or cannot be applied, with
 * the offset in the template where it went wrong.
 *
 * @example
 * ```ts
 * try { renderGoTemplate('{{.Id', {}); } catch (err) {
 *   if (err instanceof GoTemplateError) console.error(err.message); // template: unclosed action at 0
 * }
 * ```
 */
export class GoTemplateError extends LayerkitError<'INVALID_TEMPLATE', { template: string; offset: number; reason: string }> {
  constructor(template: string, offset: number, reason: string) {
    super('INVALID_TEMPLATE', `template: ${reason} (at offset ${offset} of ${JSON.stringify(template)})`, { template, offset, reason });
  }
}

type Value = unknown;

// --- syntax -------------------------------------------------------------------

type Operand =
  | { kind: 'field'; base: 'dot' | { variable: string } | { sub: Pipeline }; path: string[]; at: number }
  | { kind: 'literal'; value: Value }
  | { kind: 'name'; name: string; at: number };

interface Command {
  operands: Operand[];
  at: number;
}

interface Pipeline {
  declare?: string[];
  commands: Command[];
  at: number;
}

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipe: Pipeline }
  | { kind: 'if' | 'with'; pipe: Pipeline; then: Node[]; else: Node[] }
  | { kind: 'range'; pipe: Pipeline; body: Node[]; else: Node[] };

interface Action {
  text: string;
  at: number;
}

/** Splits the template into text and the inside of each `{{ }}`, applying the trim markers. */
function lex(template: string): Array<string | Action> {
  const out: Array<string | Action> = [];
  let i = 0;
  while (i < template.length) {
    const open = template.indexOf('{{', i);
    if (open < 0) {
      out.push(template.slice(i));
      break;
    }
    let text = template.slice(i, open);
    let start = open + 2;
    if (template.startsWith('- ', start) || template.startsWith('-\t', start) || template.startsWith('-\n', start)) {
      text = text.replace(/\s+$/, '');
      start++;
    }
    if (text !== '') out.push(text);
    const close = findClose(template, start);
    if (close < 0) throw new GoTemplateError(template, open, 'unclosed action');
    let end = close;
    let trimAfter = false;
    if (/\s-$/.test(template.slice(start, close))) {
      end = close - 1;
      trimAfter = true;
    }
    const inner = template.slice(start, end);
    if (!/^\s*\/\*[\s\S]*\*\/\s*$/.test(inner)) out.push({ text: inner, at: open });
    i = close + 2;
    if (trimAfter) while (i < template.length && /\s/.test(template[i]!)) i++;
  }
  return out;
}

/** The `}}` closing an action, skipping quoted strings. */
function findClose(template: string, from: number): number {
  for (let i = from; i < template.length; i++) {
    const ch = template[i]!;
    if (ch === '"' || ch === '`') {
      const quote = ch;
      for (i++; i < template.length && template[i] !== quote; i++) if (quote === '"' && template[i] === '\\') i++;
      continue;
    }
    if (ch === '}' && template[i + 1] === '}') return i;
  }
  return -1;
}

type Token = { t: 'word' | 'string' | 'number' | 'var' | 'field' | '(' | ')' | '|' | ':=' | ','; v: string; at: number };

function tokens(template: string, action: Action): Token[] {
  const src = action.text;
  const out: Token[] = [];
  let i = 0;
  const at = () => action.at + 2 + i;
  while (i < src.length) {
    const ch = src[i]!;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    if (ch === '(' || ch === ')' || ch === '|' || ch === ',') {
      out.push({ t: ch, v: ch, at: at() });
      i++;
      continue;
    }
    if (src.startsWith(':=', i) || (ch === '=' && src[i + 1] !== '=')) {
      out.push({ t: ':=', v: ':=', at: at() });
      i += ch === '=' ? 1 : 2;
      continue;
    }
    if (ch === '"') {
      let j = i + 1;
      while (j < src.length && src[j] !== '"') j += src[j] === '\\' ? 2 : 1;
      if (j >= src.length) throw new GoTemplateError(template, at(), 'unterminated quoted string');
      out.push({ t: 'string', v: JSON.parse(src.slice(i, j + 1).replace(/\\x([0-9a-fA-F]{2})/g, '\\u00$1')) as string, at: at() });
      i = j + 1;
      continue;
    }
    if (ch === '`') {
      const j = src.indexOf('`', i + 1);
      if (j < 0) throw new GoTemplateError(template, at(), 'unterminated raw string');
      out.push({ t: 'string', v: src.slice(i + 1, j), at: at() });
      i = j + 1;
      continue;
    }
    const word = /^(?:\$[A-Za-z0-9_]*|\.?[A-Za-z_][A-Za-z0-9_]*|-?\d+(?:\.\d+)?|\.)(?:\.[A-Za-z_][A-Za-z0-9_]*)*/.exec(src.slice(i))?.[0];
    if (!word) throw new GoTemplateError(template, at(), `unexpected ${JSON.stringify(ch)} in action`);
    const kind: Token['t'] = word.startsWith('$') ? 'var' : word.startsWith('.') ? 'field' : /^-?\d/.test(word) ? 'number' : 'word';
    out.push({ t: kind, v: word, at: at() });
    i += word.length;
  }
  return out;
}

class Parser {
  #pos = 0;

  constructor(
    readonly template: string,
    readonly toks: Token[],
  ) {}

  get done(): boolean {
    return this.#pos >= this.toks.length;
  }

  peek(): Token | undefined {
    return this.toks[this.#pos];
  }

  next(): Token | undefined {
    return this.toks[this.#pos++];
  }

  fail(reason: string, at?: number): never {
    throw new GoTemplateError(this.template, at ?? this.peek()?.at ?? this.toks.at(-1)?.at ?? 0, reason);
  }

  pipeline(allowDeclare: boolean): Pipeline {
    const at = this.peek()?.at ?? 0;
    let declare: string[] | undefined;
    if (allowDeclare && this.peek()?.t === 'var') {
      // `$x :=` or `$i, $e :=`
      const save = this.#pos;
      const names = [this.next()!.v];
      if (this.peek()?.t === ',') {
        this.next();
        const second = this.next();
        if (second?.t !== 'var') this.fail('expected a variable after ","');
        names.push(second.v);
      }
      if (this.peek()?.t === ':=') {
        this.next();
        declare = names;
      } else this.#pos = save;
    }
    const commands: Command[] = [];
    for (;;) {
      commands.push(this.command());
      if (this.peek()?.t !== '|') break;
      this.next();
    }
    return { ...(declare ? { declare } : {}), commands, at };
  }

  command(): Command {
    const at = this.peek()?.at ?? 0;
    const operands: Operand[] = [];
    while (!this.done && this.peek()!.t !== '|' && this.peek()!.t !== ')') operands.push(this.operand());
    if (operands.length === 0) this.fail('missing value for command', at);
    return { operands, at };
  }

  operand(): Operand {
    const tok = this.next()!;
    switch (tok.t) {
      case 'string':
        return { kind: 'literal', value: tok.v };
      case 'number':
        return { kind: 'literal', value: Number(tok.v) };
      case 'field':
        return { kind: 'field', base: 'dot', path: tok.v === '.' ? [] : tok.v.slice(1).split('.'), at: tok.at };
      case 'var': {
        const [name, ...path] = tok.v.split('.');
        return { kind: 'field', base: { variable: name! }, path, at: tok.at };
      }
      case 'word':
        if (tok.v === 'true' || tok.v === 'false') return { kind: 'literal', value: tok.v === 'true' };
        if (tok.v === 'nil') return { kind: 'literal', value: null };
        return { kind: 'name', name: tok.v, at: tok.at };
      case '(': {
        const sub = this.pipeline(false);
        if (this.next()?.t !== ')') this.fail('unclosed left paren', tok.at);
        // `(pipeline).Field`
        const after = this.peek();
        if (after?.t === 'field' && after.v !== '.' && after.at === (this.toks[this.#pos - 1]?.at ?? -2) + 1) {
          this.next();
          return { kind: 'field', base: { sub }, path: after.v.slice(1).split('.'), at: tok.at };
        }
        return { kind: 'field', base: { sub }, path: [], at: tok.at };
      }
      default:
        return this.fail(`unexpected ${JSON.stringify(tok.v)}`, tok.at);
    }
  }
}

const KEYWORDS = new Set(['if', 'else', 'end', 'range', 'with', 'define', 'template', 'block', 'break', 'continue']);

/** Parses a template into its tree. @throws {@link GoTemplateError} */
function parse(template: string): Node[] {
  const items = lex(template);
  let index = 0;
  const block = (closers: Set<string>): { nodes: Node[]; closer: string; at: number; rest?: Token[] } => {
    const nodes: Node[] = [];
    while (index < items.length) {
      const item = items[index++]!;
      if (typeof item === 'string') {
        nodes.push({ kind: 'text', text: item });
        continue;
      }
      const toks = tokens(template, item);
      if (toks.length === 0) throw new GoTemplateError(template, item.at, 'missing value for command');
      const head = toks[0]!;
      if (head.t === 'word' && KEYWORDS.has(head.v)) {
        if (head.v === 'end' || head.v === 'else') {
          if (!closers.has(head.v)) throw new GoTemplateError(template, item.at, `unexpected {{${head.v}}}`);
          return { nodes, closer: head.v, at: item.at, rest: toks.slice(1) };
        }
        if (head.v === 'if' || head.v === 'with' || head.v === 'range') {
          nodes.push(control(head.v, toks.slice(1), item.at));
          continue;
        }
        throw new GoTemplateError(template, item.at, `{{${head.v}}} is not supported`);
      }
      const parser = new Parser(template, toks);
      const pipe = parser.pipeline(true);
      if (!parser.done) parser.fail(`unexpected ${JSON.stringify(parser.peek()!.v)}`);
      nodes.push({ kind: 'action', pipe });
    }
    if (closers.size > 0) throw new GoTemplateError(template, template.length, 'unexpected EOF: missing {{end}}');
    return { nodes, closer: '', at: template.length };
  };
  const control = (kind: 'if' | 'with' | 'range', toks: Token[], at: number): Node => {
    if (toks.length === 0) throw new GoTemplateError(template, at, `missing value for ${kind}`);
    const parser = new Parser(template, toks);
    const pipe = parser.pipeline(kind !== 'if');
    if (!parser.done) parser.fail(`unexpected ${JSON.stringify(parser.peek()!.v)}`);
    const first = block(new Set(['else', 'end']));
    let otherwise: Node[] = [];
    if (first.closer === 'else') {
      if (first.rest && first.rest.length > 0) {
        // `{{else if …}}`: an if nested in the else branch, closed by the same {{end}}.
        const [word, ...more] = first.rest;
        if (word?.t !== 'word' || (word.v !== 'if' && word.v !== 'with')) throw new GoTemplateError(template, first.at, 'unexpected tokens after else');
        otherwise = [control(word.v, more, first.at)];
      } else {
        const second = block(new Set(['end']));
        otherwise = second.nodes;
      }
    }
    return kind === 'range' ? { kind, pipe, body: first.nodes, else: otherwise } : { kind, pipe, then: first.nodes, else: otherwise };
  };
  return block(new Set()).nodes;
}

// --- values -----------------------------------------------------------------

/** Go's `%v` of a JSON-shaped value. */
export function goValue(value: Value): string {
  if (value === undefined) return '<no value>';
  if (value === null) return '<nil>';
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : String(value);
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[${value.map(goValue).join(' ')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, Value>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `map[${entries.map(([k, v]) => `${k}:${goValue(v)}`).join(' ')}]`;
  }
  return String(value);
}

/** Go's truth: false, 0, nil, an empty string, list or map are false. */
function truthy(value: Value): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value as object).length > 0;
  return true;
}

function text(value: Value): string {
  return typeof value === 'string' ? value : goValue(value);
}

/** Go's `fmt.Sprintf` for the verbs templates use: %s %v %d %q %%, with widths (`%-10s`). */
function sprintf(format: string, args: Value[]): string {
  let n = 0;
  return format.replace(/%([-+ 0#]*)(\d*)(?:\.(\d+))?([svdqx%])/g, (_m, flags: string, width: string, precision: string | undefined, verb: string) => {
    if (verb === '%') return '%';
    const arg = args[n++];
    let out: string;
    if (verb === 'q') out = JSON.stringify(text(arg));
    else if (verb === 'd') out = typeof arg === 'number' ? String(Math.trunc(arg)) : `%!d(${typeof arg}=${text(arg)})`;
    else if (verb === 'x') out = typeof arg === 'number' ? arg.toString(16) : Buffer.from(text(arg)).toString('hex');
    else out = text(arg);
    if (precision !== undefined && verb === 's') out = out.slice(0, Number(precision));
    const w = Number(width || 0);
    if (out.length < w) out = flags.includes('-') ? out.padEnd(w) : out.padStart(w, flags.includes('0') && verb === 'd' ? '0' : ' ');
    return out;
  });
}

type Fn = (args: Value[], fail: (reason: string) => never) => Value;

function titleCase(s: string): string {
  return s.replace(/(^|[^\p{L}\p{N}])(\p{L})/gu, (_m, before: string, letter: string) => before + letter.toUpperCase());
}

const FUNCTIONS: Record<string, Fn> = {
  // Docker's: JSON without HTML escaping, compact.
  json: (a) => JSON.stringify(a[0] === undefined ? null : a[0]),
  index: (a, fail) => {
    let v = a[0];
    for (const key of a.slice(1)) {
      if (v === undefined || v === null) return undefined;
      if (Array.isArray(v)) {
        if (typeof key !== 'number' || key < 0 || key >= v.length) return fail(`index out of range: ${text(key)}`);
        v = v[key] as Value;
      } else if (typeof v === 'object') v = (v as Record<string, Value>)[text(key)];
      else fail(`can't index item of type ${typeof v}`);
    }
    return v;
  },
  join: (a) => (Array.isArray(a[0]) ? a[0].map(text).join(text(a[1] ?? '')) : text(a[0])),
  split: (a) => text(a[0]).split(text(a[1] ?? '')),
  upper: (a) => text(a[0]).toUpperCase(),
  lower: (a) => text(a[0]).toLowerCase(),
  title: (a) => titleCase(text(a[0])),
  len: (a, fail) => {
    const v = a[0];
    if (typeof v === 'string' || Array.isArray(v)) return v.length;
    if (v && typeof v === 'object') return Object.keys(v).length;
    return fail(`len of ${goValue(v)}`);
  },
  printf: (a) => sprintf(text(a[0]), a.slice(1)),
  print: (a) => a.map(text).join(''),
  println: (a) => a.map(text).join(' ') + '\n',
  pad: (a) => `${' '.repeat(Number(a[1] ?? 0))}${text(a[0])}${' '.repeat(Number(a[2] ?? 0))}`,
  truncate: (a) => [...text(a[0])].slice(0, Number(a[1] ?? 0)).join(''),
  eq: (a) => a.slice(1).some((b) => text(a[0]) === text(b) && typeof a[0] === typeof b),
  ne: (a) => !(text(a[0]) === text(a[1]) && typeof a[0] === typeof a[1]),
  not: (a) => !truthy(a[0]),
  and: (a) => a.find((v) => !truthy(v)) ?? a.at(-1),
  or: (a) => a.find((v) => truthy(v)) ?? a.at(-1),
};

// --- evaluation -------------------------------------------------------------

class Scope {
  readonly vars: Map<string, Value>;

  constructor(
    readonly dot: Value,
    parent?: Scope,
  ) {
    this.vars = new Map(parent?.vars ?? []);
  }
}

function walk(value: Value, path: string[], fail: (reason: string) => never): Value {
  let v = value;
  for (const name of path) {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) fail(`can't evaluate field ${name} in type ${Array.isArray(v) ? 'slice' : typeof v}`);
    v = (v as Record<string, Value>)[name];
  }
  return v;
}

function evalPipeline(template: string, pipe: Pipeline, scope: Scope): Value {
  let result: Value;
  let first = true;
  for (const command of pipe.commands) {
    result = evalCommand(template, command, scope, first ? [] : [result]);
    first = false;
  }
  return result;
}

function evalOperand(template: string, op: Operand, scope: Scope): Value {
  const fail = (reason: string): never => {
    throw new GoTemplateError(template, 'at' in op ? op.at : 0, reason);
  };
  switch (op.kind) {
    case 'literal':
      return op.value;
    case 'name': {
      const fn = FUNCTIONS[op.name];
      if (!fn) fail(`function ${JSON.stringify(op.name)} not defined`);
      return fn!([], fail);
    }
    case 'field': {
      let base: Value;
      if (op.base === 'dot') base = scope.dot;
      else if ('variable' in op.base) {
        const name = op.base.variable;
        if (name === '$') base = scope.vars.get('$');
        else if (!scope.vars.has(name)) fail(`undefined variable ${JSON.stringify(name)}`);
        else base = scope.vars.get(name);
      } else base = evalPipeline(template, op.base.sub, scope);
      return walk(base, op.path, fail);
    }
  }
}

function evalCommand(template: string, command: Command, scope: Scope, piped: Value[]): Value {
  const [head, ...rest] = command.operands;
  if (head!.kind === 'name') {
    const fn = FUNCTIONS[head!.name];
    const fail = (reason: string): never => {
      throw new GoTemplateError(template, command.at, `${head!.kind === 'name' ? head!.name : ''}: ${reason}`);
    };
    if (!fn) throw new GoTemplateError(template, command.at, `function ${JSON.stringify(head!.name)} not defined`);
    return fn([...rest.map((o) => evalOperand(template, o, scope)), ...piped], fail);
  }
  if (rest.length > 0 || piped.length > 0) throw new GoTemplateError(template, command.at, `can't give argument to non-function`);
  return evalOperand(template, head!, scope);
}

function render(template: string, nodes: Node[], scope: Scope, out: string[]): void {
  for (const node of nodes) {
    switch (node.kind) {
      case 'text':
        out.push(node.text);
        break;
      case 'action': {
        const value = evalPipeline(template, node.pipe, scope);
        if (node.pipe.declare) scope.vars.set(node.pipe.declare[0]!, value);
        else out.push(goValue(value));
        break;
      }
      case 'if':
      case 'with': {
        const value = evalPipeline(template, node.pipe, scope);
        if (truthy(value)) {
          const inner = new Scope(node.kind === 'with' ? value : scope.dot, scope);
          if (node.pipe.declare) inner.vars.set(node.pipe.declare[0]!, value);
          render(template, node.then, inner, out);
        } else render(template, node.else, new Scope(scope.dot, scope), out);
        break;
      }
      case 'range': {
        const value = evalPipeline(template, node.pipe, scope);
        const items: Array<[Value, Value]> = Array.isArray(value)
          ? value.map((v, i) => [i, v])
          : value && typeof value === 'object'
            ? Object.keys(value).sort().map((k) => [k, (value as Record<string, Value>)[k]])
            : typeof value === 'number'
              ? Array.from({ length: Math.max(0, value) }, (_, i) => [i, i])
              : [];
        if (value !== undefined && value !== null && typeof value !== 'object' && typeof value !== 'number') {
          throw new GoTemplateError(template, node.pipe.at, `range can't iterate over ${goValue(value)}`);
        }
        if (items.length === 0) {
          render(template, node.else, new Scope(scope.dot, scope), out);
          break;
        }
        for (const [key, item] of items) {
          const inner = new Scope(item, scope);
          const names = node.pipe.declare ?? [];
          if (names.length === 1) inner.vars.set(names[0]!, item);
          if (names.length === 2) {
            inner.vars.set(names[0]!, key);
            inner.vars.set(names[1]!, item);
          }
          render(template, node.body, inner, out);
        }
        break;
      }
    }
  }
}

/**
 * A parsed template, applied to any number of values.
 *
 * @example
 * ```ts
 * const t = compileGoTemplate('{{.Id}} {{json .Config.Labels}}');
 * t({ Id: 'sha256:…', Config: { Labels: { a: '1' } } }); // 'sha256:… {"a":"1"}'
 * ```
 */
export type GoTemplate = (data: unknown) => string;

/**
 * Parses a Go template (see the module notes for the subset).
 *
 * @throws {@link GoTemplateError} for a template that does not parse; applying
 * it throws one for a field of a non-map, an unknown function or variable.
 * @example
 * ```ts
 * compileGoTemplate('{{range .Config.Env}}{{println .}}{{end}}')({ Config: { Env: ['A=1', 'B=2'] } }); // 'A=1\nB=2\n'
 * ```
 */
export function compileGoTemplate(template: string): GoTemplate {
  const nodes = parse(template);
  return (data) => {
    const scope = new Scope(data);
    scope.vars.set('$', data);
    const out: string[] = [];
    render(template, nodes, scope, out);
    return out.join('');
  };
}

/**
 * Applies a Go template to one value.
 *
 * @example
 * ```ts
 * renderGoTemplate('{{index .Config.Labels "version"}}', { Config: { Labels: { version: '1.2' } } }); // '1.2'
 * ```
 */
export function renderGoTemplate(template: string, data: unknown): string {
  return compileGoTemplate(template)(data);
}

/**
 * Go's text/tabwriter as Docker sets it up for `--format 'table …'`: cells
 * split at tabs, every column but the last padded to its widest cell plus
 * three spaces (at least ten wide).
 *
 * @example
 * ```ts
 * tabwrite(['ID\tNAME', '1\tweb']); // 'ID           NAME\n1            web\n'
 * ```
 */
export function tabwrite(lines: string[]): string {
  const rows = lines.map((l) => l.split('\t'));
  const width = (s: string) => [...s].length;
  const columns = Math.max(...rows.map((r) => r.length));
  const widths = Array.from({ length: columns }, (_, i) => Math.max(10, ...rows.map((r) => (i < r.length - 1 ? width(r[i]!) + 3 : 0))));
  return rows.map((r) => r.map((cell, i) => (i < r.length - 1 ? cell + ' '.repeat(widths[i]! - width(cell)) : cell)).join('')).join('\n') + '\n';
}

/**
 * Docker's `--format` for list verbs: `table TEMPLATE` prints a header
 * (the template applied to `header`, which maps each field to its column
 * title) and aligns the columns; a plain template prints one line per item.
 *
 * @example
 * ```ts
 * formatList('table {{.ID}}\t{{.Names}}', [{ ID: 'abc', Names: 'web' }], { ID: 'CONTAINER ID', Names: 'NAMES' });
 * ```
 */
export function formatList(format: string, items: readonly unknown[], header: Record<string, string>): string {
  const table = /^table(\s|$)/.test(format);
  const body = table ? format.replace(/^table\s*/, '') : format;
  const template = compileGoTemplate(body);
  const lines = items.map((item) => template(item));
  if (!table) return lines.map((l) => `${l}\n`).join('');
  return tabwrite([template(header), ...lines]);
}
