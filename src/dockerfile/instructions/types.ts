/**
 * Typed instructions: what each Dockerfile instruction means once its flags
 * and arguments are read (BuildKit's `instructions` package, as data).
 * @module
 */
import type { DockerfileSyntaxError } from '../errors.js';
import type { Range } from '../syntax/node.js';

/** The instruction kinds, lowercased keywords. */
export type InstructionKind =
  | 'from'
  | 'run'
  | 'cmd'
  | 'label'
  | 'maintainer'
  | 'expose'
  | 'env'
  | 'add'
  | 'copy'
  | 'entrypoint'
  | 'volume'
  | 'user'
  | 'workdir'
  | 'arg'
  | 'onbuild'
  | 'stopsignal'
  | 'healthcheck'
  | 'shell';

/** What every instruction carries besides its own fields. */
export interface InstructionBase<Kind extends InstructionKind> {
  kind: Kind;
  /** The keyword as written (`RUN`, `Run`). */
  keyword: string;
  /** The instruction's text with continuations joined and outer white space trimmed (BuildKit's `String()`). */
  original: string;
  /** From the keyword to the end of the last line. */
  range: Range;
  /** 1-based first and last line (heredoc bodies included). */
  startLine: number;
  endLine: number;
  /** Comment lines directly above, without `#`. */
  comments: readonly string[];
  /** The flags as written (`--from=build`), before they were read. */
  flags: readonly string[];
}

/**
 * A command line: shell form (`RUN echo hi` → `{ shell: 'echo hi' }`, run as
 * `SHELL + [shell]`) or exec form (`RUN ["echo", "hi"]` → `{ exec: [...] }`).
 * A bare keyword with nothing after it gives `{ shell: '' }`; BuildKit then
 * runs the shell with no command string at all (`SHELL` alone), not `""`.
 */
export type CommandLine = { shell: string } | { exec: string[] };

/** A `key=value` (or legacy `key value`) pair of ENV and LABEL. */
export interface KeyValue {
  key: string;
  value: string;
  /** True for the legacy `ENV key value` form (no `=`). */
  legacy: boolean;
}

/** `FROM [--platform=p] image [AS name]`. */
export interface FromInstruction extends InstructionBase<'from'> {
  image: string;
  /** The stage name, lowercased as BuildKit stores it. */
  stageName?: string;
  platform?: string;
  /** The text after `# name ` in the comment above, when there is one. */
  docComment?: string;
}

/** A heredoc a RUN feeds to its command (`RUN <<EOF`). */
export interface InlineFile {
  name: string;
  /** The body as written (not chomped: `chomp` says whether leading tabs go). */
  content: string;
  chomp: boolean;
}

/** A heredoc used as a COPY/ADD source (`COPY <<EOF /dst`). */
export interface SourceContent {
  /** The heredoc's name, which is also the file name it is copied as. */
  path: string;
  /** The body, leading tabs already removed for `<<-`. */
  content: string;
  /** False when the delimiter was quoted: the body is not expanded. */
  expand: boolean;
}

/** `RUN --mount` types. */
export type MountType = 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';
/** `sharing=` modes of a cache mount. */
export type MountSharing = 'shared' | 'private' | 'locked';

/**
 * One `RUN --mount=…` (BuildKit's `commands_runmount.go`).
 * Defaults: `type` bind; `readOnly` true for bind, secret and ssh, false for
 * cache and tmpfs, unless `ro`/`rw` says otherwise.
 */
export interface Mount {
  type: MountType;
  from?: string;
  source?: string;
  target?: string;
  readOnly: boolean;
  /** tmpfs `size=` in bytes. */
  sizeLimit?: number;
  /** `id=`: the cache id, or the secret id. */
  id?: string;
  sharing?: MountSharing;
  /** secret/ssh: fail when the secret or agent is missing. */
  required: boolean;
  /** secret: expose it as this environment variable. */
  env?: string;
  /** cache/secret/ssh: file mode (octal in the Dockerfile). */
  mode?: number;
  uid?: number;
  gid?: number;
  /**
   * Keys whose values refer to variables. Until the instruction is expanded
   * ({@link expandInstruction}) string fields hold the text as written and
   * typed fields (type, mode, uid, …) their defaults, and checks that depend
   * on them wait, as in BuildKit, which reads mounts only with the stage's
   * environment in hand.
   */
  unexpanded?: string[];
}

/** One `RUN --device=name[,required]`. */
export interface Device {
  name: string;
  required: boolean;
}

/** `RUN` with its flags. */
export interface RunInstruction extends InstructionBase<'run'> {
  command: CommandLine;
  heredocs: InlineFile[];
  mounts: Mount[];
  /** The `--mount` values as written; {@link expandInstruction} re-reads them with the environment. */
  mountSpecs: string[];
  network: 'default' | 'none' | 'host';
  security: 'sandbox' | 'insecure';
  devices: Device[];
  /** Names of the flags that were given, in order of first use. */
  flagsUsed: string[];
}

/** `CMD`. */
export interface CmdInstruction extends InstructionBase<'cmd'> {
  command: CommandLine;
}

/** `ENTRYPOINT`. `{ exec: [] }` (from `ENTRYPOINT []`) clears the entrypoint. */
export interface EntrypointInstruction extends InstructionBase<'entrypoint'> {
  command: CommandLine;
}

/** `LABEL k=v …`. */
export interface LabelInstruction extends InstructionBase<'label'> {
  labels: KeyValue[];
}

/** `MAINTAINER name` (deprecated). */
export interface MaintainerInstruction extends InstructionBase<'maintainer'> {
  maintainer: string;
}

/** `EXPOSE port[/proto] …`, sorted as BuildKit sorts them. */
export interface ExposeInstruction extends InstructionBase<'expose'> {
  ports: string[];
}

/** `ENV k=v …` or the legacy `ENV k v`. */
export interface EnvInstruction extends InstructionBase<'env'> {
  env: KeyValue[];
}

/** Fields COPY and ADD share. */
export interface CopyLikeFields {
  /** Source paths (and URLs for ADD), heredoc sources excluded. */
  sources: string[];
  /** Heredoc sources (`COPY <<EOF /dst`). */
  heredocs: SourceContent[];
  dest: string;
  chown?: string;
  chmod?: string;
  link: boolean;
  /** `--exclude` patterns, in order. */
  exclude: string[];
}

/** `COPY [--from] [--chown] [--chmod] [--link] [--parents] [--exclude] src… dest`. */
export interface CopyInstruction extends InstructionBase<'copy'>, CopyLikeFields {
  /** A stage name, stage index or image. */
  from?: string;
  parents: boolean;
}

/** `ADD [--chown] [--chmod] [--link] [--exclude] [--checksum] [--keep-git-dir] [--unpack] src… dest`. */
export interface AddInstruction extends InstructionBase<'add'>, CopyLikeFields {
  checksum?: string;
  /** Undefined when the flag was not given. */
  keepGitDir?: boolean;
  /** Undefined when the flag was not given (then archives from the context are unpacked, URLs are not). */
  unpack?: boolean;
}

/** `VOLUME path …` or `VOLUME ["path", …]`. */
export interface VolumeInstruction extends InstructionBase<'volume'> {
  volumes: string[];
}

/** `USER user[:group]`. */
export interface UserInstruction extends InstructionBase<'user'> {
  user: string;
}

/** `WORKDIR path`. */
export interface WorkdirInstruction extends InstructionBase<'workdir'> {
  path: string;
}

/** One name of an `ARG`, with its default when it has one. */
export interface ArgDefinition {
  key: string;
  value?: string;
  /** The text after `# key ` in the comment above, when there is one. */
  docComment?: string;
}

/** `ARG name[=default] …`. */
export interface ArgInstruction extends InstructionBase<'arg'> {
  args: ArgDefinition[];
}

/** `ONBUILD instruction`: recorded in the image, run by images built FROM it. */
export interface OnbuildInstruction extends InstructionBase<'onbuild'> {
  /** The trigger's text as stored in the image config (`ONBUILD` removed, heredoc bodies appended). */
  expression: string;
  /** The trigger, parsed — BuildKit itself reads it only when a later build uses the image. */
  trigger?: Instruction;
  /** Why the trigger does not parse; BuildKit accepts such an ONBUILD and fails the later build. */
  triggerError?: DockerfileSyntaxError;
}

/** `STOPSIGNAL signal`. */
export interface StopsignalInstruction extends InstructionBase<'stopsignal'> {
  signal: string;
}

/**
 * `HEALTHCHECK [flags] CMD …` or `HEALTHCHECK NONE`. Durations are in
 * nanoseconds as Go's `time.ParseDuration` reads them (exact below 2^53 ns,
 * about 104 days); 0 means "not set, use the default", as does `retries: 0`.
 */
export interface HealthcheckInstruction extends InstructionBase<'healthcheck'> {
  /** `['NONE']`, `['CMD', …args]` (exec form) or `['CMD-SHELL', command]`. */
  test: string[];
  interval: number;
  timeout: number;
  startPeriod: number;
  startInterval: number;
  retries: number;
}

/** `SHELL ["executable", "params"…]`. */
export interface ShellInstruction extends InstructionBase<'shell'> {
  shell: string[];
}

/** Any typed instruction; switch on `kind`. */
export type Instruction =
  | FromInstruction
  | RunInstruction
  | CmdInstruction
  | LabelInstruction
  | MaintainerInstruction
  | ExposeInstruction
  | EnvInstruction
  | AddInstruction
  | CopyInstruction
  | EntrypointInstruction
  | VolumeInstruction
  | UserInstruction
  | WorkdirInstruction
  | ArgInstruction
  | OnbuildInstruction
  | StopsignalInstruction
  | HealthcheckInstruction
  | ShellInstruction;

/** A build stage: a FROM and the instructions up to the next FROM. */
export interface Stage {
  /** 0-based position among the stages (`COPY --from=0`). */
  index: number;
  /** The lowercased `AS` name, if any. */
  name?: string;
  /** The FROM's image reference or stage name, unexpanded. */
  baseImage: string;
  platform?: string;
  /** The FROM that opened the stage. */
  from: FromInstruction;
  /** The instructions after the FROM. */
  instructions: Instruction[];
  /** The FROM's range. */
  location: Range;
  docComment?: string;
}
