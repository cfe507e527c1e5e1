/**
 * Comma-separated fields, as buildx and BuildKit read their specs
 * (`type=oci,dest=out`, `--mount type=cache,target=/x`, `--secret id=a,src=f`):
 * go-csvvalue's `Fields`, then `key=value` pairs. Every spec parser of
 * layerkit reads through here; each adds its own keys and errors.
 * @module
 */

/** A record encoding/csv rejects; `message` is Go's error text. */
export class CsvError {
  constructor(readonly message: string) {}
}

/**
 * go-csvvalue `Fields`: one CSV record, `,`-separated, fields optionally in
 * double quotes with `""` for a quote.
 *
 * @throws {@link CsvError} with encoding/csv's text (`EOF` for an empty record).
 * @example
 * ```ts
 * csvFields('a,"b,c",""""'); // ['a', 'b,c', '"']
 * ```
 */
export function csvFields(input: string): string[] {
  let line = input;
  if (line.endsWith('\r\n')) line = line.slice(0, -2);
  else if (line.endsWith('\n')) line = line.slice(0, -1);
  if (line === '') throw new CsvError('EOF');
  const record = line;
  const fields: string[] = [];
  // `pos` is a UTF-16 offset into the record; encoding/csv's columns count
  // bytes, which only an error needs.
  let pos = 0;
  const parseError = (at: number, what: string) =>
    new CsvError(`parse error on line 1, column ${utf8Length(record.slice(0, at)) + 1}: ${what}`);
  for (;;) {
    if (line[0] !== '"') {
      const comma = line.indexOf(',');
      const field = comma >= 0 ? line.slice(0, comma) : line;
      const quote = field.indexOf('"');
      if (quote >= 0) throw parseError(pos + quote, 'bare " in non-quoted-field');
      fields.push(field);
      if (comma < 0) return fields;
      line = line.slice(comma + 1);
      pos += field.length + 1;
      continue;
    }
    line = line.slice(1);
    pos += 1;
    let field = '';
    for (;;) {
      const quote = line.indexOf('"');
      if (quote < 0) throw parseError(pos, 'extraneous or missing " in quoted-field');
      field += line.slice(0, quote);
      pos += quote + 1;
      line = line.slice(quote + 1);
      if (line[0] === '"') {
        field += '"';
        line = line.slice(1);
        pos += 1;
        continue;
      }
      if (line[0] === ',') {
        fields.push(field);
        line = line.slice(1);
        pos += 1;
        break;
      }
      if (line === '') {
        fields.push(field);
        return fields;
      }
      throw parseError(pos - 1, 'extraneous or missing " in quoted-field');
    }
  }
}

/**
 * One `key=value` field of a spec; `value` is undefined for a field without `=`.
 *
 * @example
 * ```ts
 * for (const { key, value } of specFields('id=npm,src=.npmrc')) console.log(key, value); // id npm, src .npmrc
 * ```
 */
export interface SpecField {
  /** The text before the first `=`, trimmed and lower-cased (buildx compares keys so). */
  key: string;
  /** The text after the first `=`, trimmed. */
  value: string | undefined;
  /** The field as written. */
  raw: string;
}

/**
 * The `key=value` fields of a spec, in order (an empty field is one with key
 * `''` and no value: whether it is allowed is the caller's rule).
 * Quoting that encoding/csv rejects (a bare `"`) throws what `fail` makes
 * of the reason, or a {@link CsvError} without `fail`.
 *
 * @example
 * ```ts
 * specFields('type=oci,"name=a:1,b:2",dest=out');
 * // [{ key: 'type', value: 'oci', … }, { key: 'name', value: 'a:1,b:2', … }, { key: 'dest', value: 'out', … }]
 * ```
 */
export function specFields(spec: string, fail?: (reason: string) => Error): SpecField[] {
  if (spec.trim() === '') return [];
  let fields: string[];
  try {
    fields = csvFields(spec);
  } catch (err) {
    if (fail && err instanceof CsvError) throw fail(`bad quoting: ${err.message}`);
    throw err;
  }
  const out: SpecField[] = [];
  for (const raw of fields) {
    const eq = raw.indexOf('=');
    out.push(eq < 0 ? { key: raw.trim().toLowerCase(), value: undefined, raw } : { key: raw.slice(0, eq).trim().toLowerCase(), value: raw.slice(eq + 1).trim(), raw });
  }
  return out;
}

/** Length of `text` in UTF-8 bytes (Go's string length), without encoding it (a lone surrogate counts as U+FFFD). */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 2; // a pair: 2 units, 4 bytes
      i++;
    } else bytes += 2;
  }
  return bytes;
}

/**
 * The attributes of a spec as a map, for specs whose keys are a known set
 * and appear once each: empty fields skipped; a field without `=`, a key
 * outside `known` or a key given twice is an error made by `fail`.
 *
 * @example
 * ```ts
 * specAttributes('type=local,src=cache', ['type', 'src', 'dest'], (reason) => new Error(reason));
 * // Map { 'type' => 'local', 'src' => 'cache' }
 * ```
 */
export function specAttributes(spec: string, known: Iterable<string>, fail: (reason: string) => Error): Map<string, string> {
  const allowed = new Set(known);
  const out = new Map<string, string>();
  for (const { key, value, raw } of specFields(spec, fail)) {
    if (raw.trim() === '') continue;
    if (value === undefined || key === '') throw fail(`expected key=value, got ${JSON.stringify(raw)}`);
    if (!allowed.has(key)) throw fail(`unknown attribute ${JSON.stringify(key)}`);
    if (out.has(key)) throw fail(`${key} given twice`);
    out.set(key, value);
  }
  return out;
}
