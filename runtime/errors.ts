// Every error beamline raises on purpose is a BeamlineError with a stable
// `code`. Tests and callers match on `code`, never on message text, so a
// message can be improved without breaking anyone.
//
// This module is imported on both sides of the thread boundary (kernel and
// executor), so it must stay free of Node-only side effects.

export const ErrorCodes = {
  /** A supervision tree or config file is invalid (file, line, field named). */
  SPEC_INVALID: 'BL_SPEC_INVALID',
  /** A CLI argument or native argument is invalid. */
  ARG_INVALID: 'BL_ARG_INVALID',
  /** A script file does not exist or cannot be read. */
  SCRIPT_NOT_FOUND: 'BL_SCRIPT_NOT_FOUND',
  /** A script fails to load (syntax error) or has no default-exported function. */
  SCRIPT_INVALID: 'BL_SCRIPT_INVALID',
  /** Replay of a process diverged from its journal. */
  NONDETERMINISM: 'BL_NONDETERMINISM',
  /** The journal file is not a readable SQLite database, or its contents are damaged. */
  JOURNAL_CORRUPT: 'BL_JOURNAL_CORRUPT',
  /** The file is a SQLite database but not a beamline journal. */
  JOURNAL_FOREIGN: 'BL_JOURNAL_FOREIGN',
  /** The journal was written by an unknown (newer) schema version. */
  JOURNAL_VERSION: 'BL_JOURNAL_VERSION',
  /** Another live node holds the journal. */
  JOURNAL_LOCKED: 'BL_JOURNAL_LOCKED',
  /** A value cannot be encoded with msgpack (functions, symbols). */
  UNSERIALIZABLE: 'BL_UNSERIALIZABLE',
  /** A deadline passed (receive timeout, withTimeout, callApi timeout). */
  TIMEOUT: 'BL_TIMEOUT',
  /** The target process does not exist or has exited. */
  NOPROC: 'BL_NOPROC',
  /** A registered name is already taken, or invalid. */
  NAME_TAKEN: 'BL_NAME_TAKEN',
  /** callApi failed after its retries (network error, refused port, oversized body). */
  HTTP: 'BL_HTTP',
  /** A native was called where it may not be (a recording native inside onQuery). */
  NATIVE_MISUSE: 'BL_NATIVE_MISUSE',
  /**
   * Not raised today: a step(name, fn) whose fn throws rejects with fn's own
   * error (journaled and replayed). Kept so the code stays reserved.
   */
  STEP_FAILED: 'BL_STEP_FAILED',
  /** The node is closed or closing. */
  NODE_CLOSED: 'BL_NODE_CLOSED',
  /** A script awaited a promise no native will settle (a plain setTimeout, fs.promises, fetch): it would hang forever. */
  FOREIGN_AWAIT: 'BL_FOREIGN_AWAIT',
  /** No journal at the given path (nothing to read: no node ever ran there). */
  JOURNAL_MISSING: 'BL_JOURNAL_MISSING',
  /** The journal cannot be written (read-only file or folder, full disk). */
  JOURNAL_UNWRITABLE: 'BL_JOURNAL_UNWRITABLE',
  /** The command needs a running node and none runs on this journal. */
  NO_NODE: 'BL_NO_NODE',
  /** A listener (--http) cannot be bound: the address is in use or not allowed. */
  LISTEN_FAILED: 'BL_LISTEN_FAILED',
  /**
   * A file or directory the node trusts (its control socket, the socket's
   * directory) belongs to another user or is open to others: refused, since
   * whoever owns it could impersonate the node or read what is sent to it.
   */
  UNSAFE_PATH: 'BL_UNSAFE_PATH',
  /** A server's handle(msg, state) threw: the process crashes with the message it was handling named. */
  HANDLE_FAILED: 'BL_HANDLE_FAILED',
  /** Something that should be impossible happened: a bug in beamline. */
  INTERNAL: 'BL_INTERNAL',
  /** A ctx.secret(name) reference has no value (no BEAMLINE_SECRET_<NAME>, not in the --secrets file). */
  SECRET_MISSING: 'BL_SECRET_MISSING',
  /** A literal credential was redacted in the journal and is no longer known (the node restarted): use ctx.secret. */
  CREDENTIAL_LOST: 'BL_CREDENTIAL_LOST',
  /** The journal is encrypted and its key was not given (or a row's key is not among those given), or a key is malformed. */
  JOURNAL_KEY: 'BL_JOURNAL_KEY',
  /** A file beamline must trust (journal, lock, secrets or key file) is another user's, or readable by others. */
  FILE_UNSAFE: 'BL_FILE_UNSAFE',
  /** A live-view action (send, kill) came without the view's token, or from a host the view does not serve. */
  UI_FORBIDDEN: 'BL_UI_FORBIDDEN',
  /** A limit the node was started with was reached (--max-processes): the spawn is refused. */
  LIMIT: 'BL_LIMIT',
  /** A process's mailbox held more unread messages than --max-mailbox allows: the process is failed with this reason. */
  MAILBOX_FULL: 'BL_MAILBOX_FULL',
  /** callApi to a host outside --allow-hosts: refused before any connection. */
  HOST_FORBIDDEN: 'BL_HOST_FORBIDDEN',
  /** The PostgreSQL store cannot be reached (refused, timed out, connection lost). */
  JOURNAL_UNAVAILABLE: 'BL_JOURNAL_UNAVAILABLE',
  /** This node's lease on its processes lapsed (another node may own them now): it stops committing and exits. */
  LEASE_LOST: 'BL_LEASE_LOST',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface ErrorDetails {
  cause?: unknown;
  [key: string]: unknown;
}

export class BeamlineError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    const { cause, ...rest } = details;
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    this.details = Object.freeze(rest);
  }

  override get name(): string {
    return 'BeamlineError';
  }
}

/** Replay diverged: the script issued a different command than the journal recorded. */
export class NonDeterminismError extends BeamlineError {
  /** `line`: where in the script the diverging call was made (`file:line:column`), when it was a call. */
  constructor(message: string, details: { pid: string; step: number; expected: string; actual: string; line?: string }) {
    super(ErrorCodes.NONDETERMINISM, message, details);
  }
  override get name(): string {
    return 'NonDeterminismError';
  }
}

/** A receive, withTimeout scope or callApi passed its deadline. */
export class TimeoutError extends BeamlineError {
  constructor(message: string, details: ErrorDetails = {}) {
    super(ErrorCodes.TIMEOUT, message, details);
  }
  override get name(): string {
    return 'TimeoutError';
  }
}

/** A supervision tree, config file or CLI argument is invalid. */
export class SpecError extends BeamlineError {
  constructor(message: string, details: ErrorDetails & { file?: string; line?: number; path?: string } = {}) {
    super(ErrorCodes.SPEC_INVALID, message, details);
  }
  override get name(): string {
    return 'SpecError';
  }
}

/** callApi failed after exhausting its retries. Carries the last status or network error code. */
export class HttpError extends BeamlineError {
  constructor(message: string, details: ErrorDetails & { url?: string; status?: number; attempts?: number } = {}) {
    super(ErrorCodes.HTTP, message, details);
  }
  override get name(): string {
    return 'HttpError';
  }
}

export function isBeamlineError(err: unknown): err is BeamlineError {
  return err instanceof BeamlineError;
}

/**
 * The plain-data form an error takes in the journal and in exit reasons.
 * Errors cross threads and restarts as data; `revive` turns them back into
 * throwable objects of the right class (so `name` and `code` survive replay).
 */
export interface ErrorData {
  error: string; // the error's name: 'Error', 'TypeError', 'TimeoutError', ...
  message: string;
  code?: string;
  stack?: string;
  details?: Record<string, unknown>;
}

export function toErrorData(err: unknown, withStack = true): ErrorData {
  if (err instanceof Error) {
    const data: ErrorData = { error: err.name, message: err.message };
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string') data.code = code;
    if (withStack && typeof err.stack === 'string') data.stack = err.stack;
    if (err instanceof BeamlineError && Object.keys(err.details).length > 0) {
      data.details = plainDetails(err.details);
    }
    return data;
  }
  return { error: 'Error', message: typeof err === 'string' ? err : safeString(err) };
}

export function isErrorData(value: unknown): value is ErrorData {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as ErrorData).error === 'string' &&
    typeof (value as ErrorData).message === 'string'
  );
}

/** Rebuild a throwable from its recorded data, keeping name, code and details. */
export function revive(data: ErrorData): Error {
  let err: Error;
  const details = data.details ?? {};
  switch (data.error) {
    case 'TimeoutError':
      err = new TimeoutError(data.message, details);
      break;
    case 'NonDeterminismError':
      err = new NonDeterminismError(data.message, details as never);
      break;
    case 'HttpError':
      err = new HttpError(data.message, details);
      break;
    default:
      if (data.code !== undefined && data.code.startsWith('BL_')) {
        err = new BeamlineError(data.code as ErrorCode, data.message, details);
      } else {
        err = new Error(data.message);
        if (data.error !== 'Error') Object.defineProperty(err, 'name', { value: data.error, configurable: true });
        if (data.code !== undefined) (err as Error & { code?: string }).code = data.code;
      }
  }
  if (data.stack !== undefined) err.stack = data.stack;
  return err;
}

function plainDetails(details: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(details)) {
    if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) out[k] = v;
    else out[k] = safeString(v);
  }
  return out;
}

function safeString(value: unknown): string {
  try {
    return typeof value === 'object' ? JSON.stringify(value) : String(value);
  } catch {
    return String(value);
  }
}
