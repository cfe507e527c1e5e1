/**
 * The types the builder, the steps and the cache share: the build session
 * and one stage being run. A leaf, so that each of them can import these
 * without importing the others.
 * @module
 */
import type { Instruction, Stage } from '../dockerfile/instructions/types.js';
import type { ShellLex } from '../dockerfile/shell/lex.js';
import type { ImageStore } from '../image/store/store.js';
import type { Platform } from '../image/types.js';
import type { layerFromEntries } from '../layers/from-entries.js';
import type { Layer } from '../layers/layer.js';
import type { LayerIndex } from '../unionfs/layer-index.js';
import type { RemoteBaseContext, ResolvedBase } from './remote-base.js';
import type { BuildContext } from '../context/context.js';
import type { SourceFs } from './copy/sources.js';
import type { BuildEvent, BuildWarningCode } from './events.js';
import type { RunExecutor } from '../sandbox/executor.js';
import type { BuildOptions, BuildStep, Fetcher, SecretSource } from './options.js';
import type { VarList } from './scope.js';
import type { LayerSpool } from './spool.js';
import type { StageState } from './stage-state.js';
import type { SourceRef, StageGraph, StagePlan } from './stages.js';
import type { UserDb } from './users.js';

/** What a session is made from besides what it exposes: the platform asked for. */
export interface SessionPlatform {
  readonly targetPlatform: Platform;
  /** The build named its platform (`platform`/`platforms`): a base of another platform is not used. */
  readonly explicitPlatform: boolean;
}

/** Everything a step may need from the build. */
export interface BuildSession {
  readonly options: BuildOptions;
  readonly store: ImageStore;
  readonly context: BuildContext;
  readonly lex: ShellLex;
  readonly graph: StageGraph;
  readonly global: VarList;
  readonly buildArgs: ReadonlyMap<string, string>;
  readonly buildPlatform: Platform;
  /** Seconds; undefined = build time. */
  readonly epoch: number | undefined;
  /** The time history entries and the config get (RFC 3339). */
  readonly created: string;
  readonly spool: LayerSpool;
  readonly executor: RunExecutor | undefined;
  readonly fetcher: Fetcher | undefined;
  readonly secrets: Readonly<Record<string, SecretSource>>;
  readonly steps: BuildStep[];
  /** Names of ARGs declared in built stages (for the unused-build-arg warning). */
  readonly declaredArgs: Set<string>;
  emit(event: BuildEvent): void;
  warn(code: BuildWarningCode, message: string, at?: { line: number; column: number }): void;
  checkAborted(): void;
  /** Builds (once) the stage with this index and returns its final state. */
  stage(index: number): Promise<StageState>;
  /** A COPY --from / mount source as a file system. */
  sourceFs(ref: SourceRef, at: Instruction, stageLabel: string): Promise<SourceFs>;
  /**
   * The layers, config and config digest (the cache's identity of the image)
   * of an image named in FROM or `--from`, for `platform` (default the
   * target platform); `remote` is set for an image found in a registry.
   */
  image(reference: string, at: Instruction | Stage['from'], stageLabel: string, platform?: Platform): Promise<ResolvedBase>;
  /** The platform a stage's FROM asks for: its `--platform`, else the target platform. */
  stagePlatform(plan: StagePlan): Platform;
  /** Registry access (the client is made on first use). */
  remote(): RemoteBaseContext;
  /** Every base image resolved so far. */
  bases(): Promise<ResolvedBase[]>;
  /** The named context `name` as a directory context, when it is one. */
  namedDirectory(name: string): Promise<BuildContext | undefined>;
  layerOptions(): Parameters<typeof layerFromEntries>[1];
}

/** One stage being run. */
export interface StageRun {
  session: BuildSession;
  plan: StagePlan;
  state: StageState;
  users: UserDb;
  /** CMD was set in this stage (then ENTRYPOINT keeps it). */
  cmdSet: boolean;
}

/** What a step did: its history text, and its layer when it made one. */
export interface StepOutcome {
  /** `created_by` of the history entry; null for instructions BuildKit records none for (ONBUILD). */
  createdBy: string | null;
  /**
   * The layer's digest when the step made one; a step that wrote it gives
   * the layer too, with its index when it made one (the cache saves it).
   */
  layer?: { digest: string; layer?: Layer; index?: LayerIndex | undefined } | null;
  /** The layer came from the build cache. */
  cached?: boolean;
}
