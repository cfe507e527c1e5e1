/**
 * The raw syntax tree: what BuildKit's parser returns, with line *and* column
 * positions. It knows continuations, directives, heredocs and JSON vs shell
 * form, but not what any flag means (that is the typed instructions' job).
 * @module
 */

/** A 1-based line and column (column in UTF-16 code units of that line). */
export interface Position {
  line: number;
  column: number;
}

/** A span of source text; `end` is inclusive of the last character. */
export interface Range {
  start: Position;
  end: Position;
}

/**
 * Where a piece of an instruction's `original` text sits in the source.
 * Continuation lines are joined into one `original`, so an instruction is a
 * list of segments: segment `i` covers `original.slice(offset_i, offset_{i+1})`
 * and starts at `line`/`column`. Lines dropped inside a continuation
 * (comments, empty lines) have no segment.
 */
export interface SourceSegment {
  /** Offset in `original` (UTF-16 code units) where this segment starts. */
  offset: number;
  /** 1-based source line of the segment. */
  line: number;
  /** 1-based column on that line where the segment's first character is. */
  column: number;
}

/** A heredoc attached to an instruction (`RUN <<EOF … EOF`). */
export interface Heredoc {
  /** The delimiter word, without quotes or `-`. */
  name: string;
  /** The body, every line with its newline, as BuildKit records it. */
  content: string;
  /** False when the delimiter was quoted (`<<'EOF'`, `<<"EOF"`): no expansion in the body. */
  expand: boolean;
  /** True for `<<-EOF`: leading tabs are stripped from the body lines. */
  chomp: boolean;
}

/** A parser directive read from the top of the file (`# escape=`…). */
export interface Directive {
  /** Lowercased name: `syntax`, `escape` or `check`. */
  name: string;
  value: string;
  /** 1-based line. */
  line: number;
}

/** A non-fatal finding of the parser (BuildKit's warnings, e.g. empty continuation lines). */
export interface ParseWarning {
  /** Short text, as BuildKit words it. */
  short: string;
  /** Longer explanation lines. */
  detail: string[];
  /** Documentation link, when BuildKit gives one. */
  url?: string;
  range: Range;
}

/**
 * One instruction.
 *
 * `args` is BuildKit's `Next` chain as an array: for ENV and LABEL it holds
 * `key, value, separator` triples (separator `=` or `""` for the legacy
 * `ENV key value` form); for JSON form the parsed strings; for shell form one
 * string with continuations joined. ONBUILD has no args but a `child`.
 */
export interface InstructionNode {
  /** Lowercased keyword (`from`, `run`, …), as BuildKit's dump prints it. */
  keyword: string;
  /** The keyword as written (`From`, `RUN`), as BuildKit's `Node.Value`. */
  rawKeyword: string;
  /** The instruction text with continuations joined, as BuildKit's `Node.Original`. */
  original: string;
  /**
   * Flags in order (`--from=build`), split off the way BuildKit's
   * `extractBuilderFlags` does: quotes removed, escapes applied, values not
   * interpreted.
   */
  flags: string[];
  args: string[];
  /** ONBUILD's inner instruction (its positions point into the ONBUILD line). */
  child?: InstructionNode;
  /** True when the arguments were written in JSON (exec) form. */
  json: boolean;
  heredocs: Heredoc[];
  /**
   * Comment lines above the instruction (since the previous one), as BuildKit's
   * `PrevComment`: text after the line's first character, trimmed. A bare `#`
   * line clears the list.
   */
  comments: string[];
  /** 1-based first and last line (heredoc bodies included). */
  startLine: number;
  endLine: number;
  /** From the keyword to the end of the last line (heredoc terminator included). */
  range: Range;
  /** Where each piece of `original` came from; the first starts at the keyword. */
  segments: SourceSegment[];
}

/** The result of parsing a whole Dockerfile. */
export interface DockerfileAst {
  children: InstructionNode[];
  directives: Directive[];
  /** The escape token in force: `\` by default, or `` ` `` from `# escape=`. */
  escapeToken: '\\' | '`';
  warnings: ParseWarning[];
}
