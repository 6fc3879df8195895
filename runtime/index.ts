// The package entry: the node facade, the errors (with their codes), the
// types script authors need, and the native interface for writing natives.

export { Node, DEFAULT_DB, evictionPolicy, type NodeOptions, type RootExit, type SpawnRootOptions } from './node.js';
export type { ExitInfo, KernelStats } from './kernel/kernel.js';
export {
  BeamlineError,
  ErrorCodes,
  HttpError,
  NonDeterminismError,
  SpecError,
  TimeoutError,
  isBeamlineError,
  type ErrorCode,
  type ErrorData,
} from './errors.js';
export { parseTreeFile, parseTreeText, type SupervisorSpec, type ChildSpec } from './config/tree.js';
export { parseDuration } from './config/duration.js';
export type * from './types.js';
export { replay, type ReplayOptions, type ReplayReport, type ReplayResult, type Divergence } from './replay/check.js';
export type { HistoryExport, HistoryRound } from './control/inspect.js';
