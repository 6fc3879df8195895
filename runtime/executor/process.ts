// A process as the executor holds it: the script's async function, parked on
// promises the executor owns, plus its mailbox and the current round's record.
//
// Every native call goes through `call` — the one driver:
//
//   prepare (validate, key) ─▶ take a step ─▶ replaying? ── yes ─▶ cursor.command(step) ─▶ inline? value : park
//                                              └─ no ─▶ native.start ─▶ record ─▶ inline? value : park (+ kernel effect)
//
// and every resolution goes through `#resolve`, which records it (live) and
// settles the parked promise. A round is: apply the queued markers (mail,
// resolutions), let the script run until it is quiet (the thread drains the
// microtask queue), then emit one journal row with what happened.

import { fileURLToPath } from 'node:url';
import type { ChildSpec, Delivered, NativeDef, NativeHost, Notice, Start } from '../../natives/api.js';
import { markersOf, type Registry } from '../../natives/registry.js';
import { BeamlineError, ErrorCodes, NonDeterminismError, revive, toErrorData, type ErrorData } from '../errors.js';
import { decode, encode } from '../journal/codec.js';
import { serialOf } from '../pid.js';
import { SmallMap } from '../small-map.js';
import {
  MAIL_MESSAGE,
  MAIL_SIGNAL,
  snapshotOf,
  type CommandTuple,
  type Effect,
  type ExitOut,
  type MailMarker,
  type Marker,
  type Pid,
  type RoundOut,
  type RoundRecord,
} from '../protocol.js';
import { Locals } from './locals.js';
import { Mailbox, type MailEntry } from './mailbox.js';
import { ReplayCursor } from './replay.js';

/** What a process needs from the thread that hosts it. */
export interface ThreadEnv {
  readonly registry: Registry;
  /** --max-mailbox (0: no bound). */
  readonly maxMailbox: number;
  /** Route a message: straight into a co-located mailbox, or out to the kernel. */
  deliver(from: Proc, to: string, data: Uint8Array): void;
  newMailId(): number;
  /** Give a child a pid from this thread's range and tell the kernel (null: the range is spent). */
  spawnHere(parent: Proc, step: number, child: ChildSpec): Pid | null;
  whereis(name: string): Pid | undefined;
  nameChanged(name: string, owner: Pid | null): void;
  /** A stored mailbox entry was consumed. */
  taken(id: number): void;
  /** A stored signal entry became a message. */
  trapped(id: number, data: Uint8Array): void;
  /** A message created on this thread that is not stored yet. */
  unstored(proc: Proc, entry: MailEntry): void;
  /** The process has work for a round. */
  ready(proc: Proc): void;
  currentScope(): object | undefined;
  withinScope<T>(scope: object, fn: () => T): T;
}

/**
 * 'replayed': a dry replay (`runtime replay`) reached the end of the history;
 * nothing more runs, nothing live is picked up.
 */
export type ProcState = 'replaying' | 'live' | 'exited' | 'replayed';

export type { MailEntry };

interface Pending {
  step: number;
  def: NativeDef;
  state: unknown;
  /** A kernel effect is armed for this step (the kernel is told when it is no longer wanted). */
  effect: boolean;
  scope: Scope | undefined;
  resolve: ((value: unknown) => void) | null;
  reject: ((err: unknown) => void) | null;
}

interface Scope {
  parent: Scope | undefined;
}

/** Thrown by ctx.exit() to unwind the script; the exit is already recorded. */
export class ProcessExit extends Error {
  constructor() {
    super('process exited');
  }
  override get name(): string {
    return 'ProcessExit';
  }
}

type ScriptFn = (ctx: unknown, ...args: unknown[]) => unknown;

export class Proc implements NativeHost {
  readonly pid: Pid;
  /** The number after the dot in the pid: what the shared current-process cell holds. */
  readonly serial: number;
  readonly run: number;
  readonly script: string;
  readonly args: readonly unknown[];
  /** A server's state as its last snapshot left it (this run started from it). */
  readonly snapshot: { state: unknown } | undefined;
  readonly locals = new Locals();
  readonly ctx: object;

  state: ProcState;
  /** Set by the thread while this process is in the run queue. */
  queued = false;

  readonly #env: ThreadEnv;
  /** In #goLive, taking over the stored mailbox (see --max-mailbox). */
  #takingOver = false;
  /** Past --max-mailbox: the reason it fails with at the start of its next round. */
  #overflow: ErrorData | null = null;
  readonly #fn: ScriptFn;
  #step = 0;
  #querying = false;
  #fresh = true;
  #dry = false;
  readonly #pending = new SmallMap<number, Pending>();
  // Everything below is created on first use: a parked process should cost
  // little more than its script's suspended frame (see the timers benchmark).
  #mailboxOrNull: Mailbox | null = null;
  #arrivals = 0;
  /** Arrival number up to which entries were offered to waiting receives. */
  #offered = 0;
  #marks: Marker[] | null = null;
  #local: Array<[number, boolean, unknown]> | null = null;
  #cursor: ReplayCursor | null;
  #storedMail: MailMarker[] | null = null;
  /**
   * Ids of the stored mailbox a rebuild took over. An entry put after the
   * kernel sent the start but committed before this thread read the journal
   * is in both: read here, and marked for the next wake. That wake's markers
   * are filtered against these once, then the set goes.
   */
  #takenOver: Set<number> | null = null;
  #heldLocal: MailEntry[] | null = null;
  /** The message just taken, already decoded by a `match` (one slot, see #consume). */
  #handoff: MailEntry | null = null;

  /** The current round's record; null while nothing happened in it. */
  #round: RoundAcc | null = null;
  #exit: ExitOut | null = null;
  #exitRecorded = true;
  /** Local work in flight (step functions running). */
  #localWork = 0;
  /** Journal rows of this run so far (replayed and live): the history a recovery replays. */
  #rows = 0;

  constructor(env: ThreadEnv, fields: { pid: Pid; run: number; script: string; args: unknown[]; fn: ScriptFn; ctx: (p: Proc) => object }) {
    this.#env = env;
    this.pid = fields.pid;
    this.serial = serialOf(fields.pid);
    this.run = fields.run;
    this.script = fields.script;
    this.snapshot = snapshotOf(fields.args);
    this.args = this.snapshot === undefined ? fields.args : fields.args.slice(0, -1);
    this.#fn = fields.fn;
    this.ctx = fields.ctx(this);
    this.state = 'live';
    this.#cursor = null;
  }

  /**
   * Rebuild from history: replay `rounds`, then take over `mailbox` and go
   * live. `dry`: replay only (the replay check) — at the end of the history
   * the process stops in state 'replayed' instead of going live.
   */
  replay(rounds: RoundRecord[], mailbox: MailMarker[], opts: { dry?: boolean } = {}): void {
    this.#cursor = new ReplayCursor(this.pid, rounds, markersOf(this.#env.registry));
    this.#dry = opts.dry === true;
    this.#rows = rounds.length;
    this.#storedMail = mailbox;
    this.state = this.#cursor.done ? 'live' : 'replaying';
    // With no history, a live rebuild takes its stored mailbox over at its
    // first round (beginRound), not here: that can end the process (an exit
    // signal sent before the run started), and an end outside a round is
    // never reported — the kernel would hold the process as parked for ever.
    if (this.state === 'live' && this.#dry) this.#goLive();
  }

  get replaying(): boolean {
    return this.state === 'replaying';
  }

  get querying(): boolean {
    return this.#querying;
  }

  /** Not yet run, or being rebuilt: its rounds can wait behind work already under way. */
  get starting(): boolean {
    return this.#fresh || this.state === 'replaying';
  }

  /** True when a round would do something. */
  get hasWork(): boolean {
    if (this.state === 'exited') return false;
    if (this.#overflow !== null) return true;
    if (this.#fresh || this.state === 'replaying') return true;
    return this.#marks !== null || this.#local !== null || this.#offered < this.#arrivals;
  }

  /** Markers from the kernel, applied at the next round. */
  push(marks: Marker[]): void {
    if (marks.length === 0) return;
    if (this.#takenOver !== null) {
      // The first markers after a rebuild may repeat entries it read from the journal (see #takenOver).
      const seen = this.#takenOver;
      this.#takenOver = null;
      marks = marks.filter((m) => m.m !== 'mail' || !seen.has(m.id));
      if (marks.length === 0) return;
    }
    if (this.#marks === null) this.#marks = marks.slice();
    else for (const m of marks) this.#marks.push(m);
  }

  // ───────────────────────────── rounds ─────────────────────────────

  /** Open a round: start the script, or apply what arrived. The thread drains microtasks next. */
  beginRound(): void {
    if (this.state === 'live' && this.#storedMail !== null) this.#goLive(); // rebuilt with no history (see replay)
    if (this.state === 'exited' || this.#overflowed()) return;
    if (this.#fresh) {
      this.#fresh = false;
      if (this.state === 'replaying' && this.#cursor!.resolutions().length > 0) {
        this.#fail(this.#cursor!.finishedEarly(0, 'a fresh start'));
        return;
      }
      this.#invoke();
      return;
    }
    if (this.state === 'replaying') {
      for (const [step, ok, value] of this.#cursor!.resolutions()) {
        if (this.state !== 'replaying') break;
        if (!this.#resolve(step, ok, value)) {
          this.#fail(
            new NonDeterminismError(
              `process ${this.pid} diverged from its journal at step ${step}: expected a call waiting at step ${step}, got none`,
              { pid: this.pid, step, expected: `a waiting call at step ${step}`, actual: 'no such call' },
            ),
          );
        }
      }
      return;
    }
    // Mail that came ahead of a resolution is offered before it: a receive
    // whose timeout comes in the same wake as an earlier message (a kernel
    // held up past both, a named timer due before the timeout) takes the
    // message, as it would have had they come in separate wakes. The order
    // is recorded (the round's resolutions), so replay follows it.
    const marks = this.#marks ?? NONE;
    this.#marks = null;
    for (const mk of marks) {
      if (this.#ended()) return;
      if (mk.m === 'mail') this.#arrive(mk.id, mk.from, mk.kind, mk.data, mk.unstored !== true);
      else if (mk.run === this.run) {
        this.#offer();
        if (this.#ended()) return;
        this.#resolve(mk.step, mk.ok, mk.v === null ? undefined : decode(mk.v));
      }
    }
    if (this.#overflowed()) return;
    const local = this.#local ?? NONE;
    this.#local = null;
    for (const [step, ok, value] of local) {
      if (this.#ended()) return;
      this.#offer();
      if (this.#ended()) return;
      this.#resolve(step, ok, value);
    }
    this.#offer();
  }

  /** Close a round (the script is quiet): its journal row, or null when nothing happened. */
  endRound(): RoundOut | null {
    if (this.state === 'replaying') {
      try {
        this.#cursor!.finishRound(this.#step);
      } catch (err) {
        this.#fail(err as NonDeterminismError);
      }
      if (this.state === 'replaying' && this.#cursor!.done) this.#goLive();
    }
    if (this.state === 'live' && !this.#waiting()) this.#foreignAwait();
    const exit = this.#exit;
    const round = this.#round ?? EMPTY_ROUND;
    this.#round = null;
    this.#exit = null;
    if (round.r.length === 0 && round.c.length === 0 && exit === null && round.logs.length === 0) {
      if (round.effects.length === 0 && round.settled.length === 0) return null;
      // Nothing to journal, but the kernel must still hear of it (a timer no longer wanted).
      return { pid: this.pid, run: this.run, row: null, effects: round.effects, settled: round.settled, logs: round.logs, exit: null };
    }
    let row: Uint8Array | null = null;
    if (exit === null || this.#exitRecorded) {
      const rec: RoundRecord = { r: round.r, c: round.c };
      if (round.logs.length > 0) rec.l = round.logs;
      if (exit !== null) rec.x = exit.reason;
      row = encode(rec);
      // A loop that never ends its run grows its history for ever: say so
      // once, when it passes the mark (a server or continueAsNew keeps it short).
      if (++this.#rows === HISTORY_WARN_ROWS && exit === null) {
        round.logs.push(
          `warning: process ${this.pid} (${this.script}) has ${HISTORY_WARN_ROWS} journal rows in run ${this.run}; ` +
            'every recovery replays them all — write it with ctx.serve({state, handle}) or call ctx.continueAsNew(...) now and then',
        );
      }
    }
    const out: RoundOut = { pid: this.pid, run: this.run, row, effects: round.effects, settled: round.settled, logs: round.logs, exit };
    if (!round.impure && exit === null) out.pure = true;
    return out;
  }

  // ───────────────────────────── the call path ─────────────────────────────

  /** The one driver every native call goes through. */
  call(def: NativeDef, args: unknown[]): unknown {
    if (this.state === 'exited' || this.state === 'replayed') {
      throw new BeamlineError(ErrorCodes.NOPROC, `${def.name}: process ${this.pid} has exited`, { pid: this.pid });
    }
    if (def.records === false) {
      return this.#settleInline(def, undefined, def.start(this, args, -1, undefined).result, false);
    }
    if (this.#querying && def.readOnly !== true) {
      throw new BeamlineError(ErrorCodes.NATIVE_MISUSE, `${def.name}: a query handler may not call a recording native`, { pid: this.pid });
    }
    const prepared = def.prepare?.(this, args);
    const key = prepared?.key ?? null;
    const step = this.#step;
    if (def.marker !== undefined) return this.#marker(def, args, prepared, key ?? '');

    if (this.state === 'replaying') {
      let rec: CommandTuple;
      try {
        rec = this.#cursor!.command(step, def.name, key);
      } catch (err) {
        const located = this.#located(err as NonDeterminismError);
        this.#fail(located);
        throw located;
      }
      this.#step++;
      const [, , , record, done, result] = rec;
      if (done !== 0) return this.#settleInline(def, undefined, result, done === 2);
      const state = def.restore?.(this, args, record, step, prepared);
      // The journal does not say whether the live call armed a kernel effect;
      // assume it did, so settling or cancelling it after replay tells the
      // kernel (which ignores steps it has no effect for).
      return this.#park(step, def, state, true);
    }

    const started: Start = def.start(this, args, step, prepared);
    this.#step++;
    const failed = started.done === true && started.error !== undefined;
    const result = failed ? started.error : started.result;
    const round = this.#acc();
    round.c.push([step, def.name, key, started.record ?? null, started.done === true ? (failed ? 2 : 1) : 0, started.done === true ? result : null]);
    if (started.done === true) {
      round.impure = true; // a value read live (now, random, a step's result, a message already here)
      return this.#settleInline(def, undefined, result, failed);
    }
    if (started.effect !== undefined) round.effects.push({ ...started.effect, step } as Effect);
    return this.#park(step, def, started.wait, started.effect !== undefined);
  }

  /**
   * A marker (patched): takes no step. Replaying, the answer is the marker
   * recorded here or, when the history has none, `absent`; live, it is
   * recorded at the step of the next command.
   */
  #marker(def: NativeDef, args: unknown[], prepared: unknown, key: string): unknown {
    const name = def.marker!.journalName ?? def.name;
    if (this.state === 'replaying') {
      const rec = this.#cursor!.marker(this.#step, name, key);
      if (rec === undefined) return def.marker!.absent;
      return this.#settleInline(def, undefined, rec[5], rec[4] === 2);
    }
    const started: Start = def.start(this, args, this.#step, prepared);
    const failed = started.error !== undefined;
    const result = failed ? started.error : started.result;
    const round = this.#acc();
    round.c.push([this.#step, name, key, started.record ?? null, failed ? 2 : 1, result]);
    round.impure = true;
    return this.#settleInline(def, undefined, result, failed);
  }

  /** A divergence found at a call: add where in the script the call was made. */
  #located(err: NonDeterminismError, stack = new Error().stack ?? ''): NonDeterminismError {
    const line = scriptLine(stack, this.script);
    if (line === undefined || !(err instanceof NonDeterminismError)) return err;
    const d = err.details as { pid: string; step: number; expected: string; actual: string };
    return new NonDeterminismError(`${err.message} at ${line}`, { ...d, line });
  }

  #settleInline(def: NativeDef, state: unknown, value: unknown, failed: boolean): unknown {
    if (def.kind === 'wait') {
      try {
        if (failed) return Promise.reject(revive(value as ErrorData));
        return Promise.resolve(def.settle ? def.settle(this, state, value) : value);
      } catch (err) {
        return Promise.reject(err);
      }
    }
    if (failed) throw revive(value as ErrorData);
    return def.settle ? def.settle(this, state, value) : value;
  }

  #park(step: number, def: NativeDef, state: unknown, effect: boolean): Promise<unknown> | undefined {
    const pending: Pending = { step, def, state, effect, scope: this.#env.currentScope() as Scope | undefined, resolve: null, reject: null };
    this.#pending.set(step, pending);
    let promise: Promise<unknown> | undefined;
    if (def.kind === 'wait') {
      promise = new Promise((resolve, reject) => {
        pending.resolve = resolve;
        pending.reject = reject;
      });
    }
    def.parked?.(this, state, step);
    return promise;
  }

  /** Apply a resolution to a waiting call. False when nothing waits at `step` (a stale marker). */
  #resolve(step: number, ok: boolean, value: unknown): boolean {
    const pending = this.#pending.get(step);
    if (pending === undefined) return false;
    this.#pending.delete(step);
    if (this.state === 'live') {
      const round = this.#acc();
      round.r.push([step, ok, value]);
      if (pending.def.settledByJournal !== true) round.impure = true;
      if (pending.effect) round.settled.push(step);
    }
    this.#deliver(pending, ok, value);
    return true;
  }

  #deliver(pending: Pending, ok: boolean, value: unknown): void {
    let out: unknown;
    let threw = !ok;
    if (ok) {
      try {
        out = pending.def.settle ? pending.def.settle(this, pending.state, value) : value;
      } catch (err) {
        out = err;
        threw = true;
      }
    } else {
      out = revive(value as ErrorData);
    }
    if (threw) pending.reject?.(out);
    else pending.resolve?.(out);
  }

  // ───────────────────────────── mailbox ─────────────────────────────

  /** A mailbox entry arrives (from the kernel, or from a co-located sender). */
  #arrive(id: number, from: Pid, kind: number, data: Uint8Array, stored: boolean): void {
    const entry: MailEntry = { id, from, kind, data, arr: ++this.#arrivals, stored, taken: false, decoded: false };
    if (kind === MAIL_SIGNAL) {
      this.#signal(entry);
      return;
    }
    this.#mailbox.push(entry);
    if (!stored) this.#env.unstored(this, entry);
    const max = this.#env.maxMailbox;
    if (max > 0 && this.#mailbox.size > max && this.state === 'live' && !this.#takingOver) {
      // Like OTP's max_heap_size: the process that cannot keep up is failed
      // with a reason naming why, and nothing is dropped — every message is
      // stored (this one included), so a supervisor's next run takes the
      // mailbox over in order. A sender never sees a refusal: it cannot know
      // the receiver's backlog without a round trip.
      // Ended in its own round (the next, or this one's marks): a local
      // sender delivers in the middle of the sender's round.
      const err = new BeamlineError(
        ErrorCodes.MAILBOX_FULL,
        `${this.pid}: mailbox holds ${this.#mailbox.size} unread messages, more than --max-mailbox ${max}`,
        { pid: this.pid, limit: max, size: this.#mailbox.size },
      );
      this.#overflow ??= toErrorData(err, false);
    }
  }

  /** Past --max-mailbox since the last round: end now, with the reason that names it. */
  #overflowed(): boolean {
    if (this.#overflow === null || this.state !== 'live') return false;
    this.#end(this.#overflow, null);
    this.#overflow = null;
    return true;
  }

  /** Local delivery from a process on this thread. */
  receiveLocal(from: Pid, data: Uint8Array): void {
    if (this.state === 'exited') return;
    if (this.state === 'replaying') {
      // The stored mailbox is taken over when replay ends; a local message
      // sent now arrived after everything in it (per-sender order).
      const entry: MailEntry = { id: this.#env.newMailId(), from, kind: MAIL_MESSAGE, data, arr: 0, stored: false, taken: false, decoded: false };
      this.#env.unstored(this, entry);
      (this.#heldLocal ??= []).push(entry);
      return;
    }
    this.#arrive(this.#env.newMailId(), from, MAIL_MESSAGE, data, false);
    this.#env.ready(this);
  }

  /** An exit signal reached this process: die, ignore it, or (trapping) turn it into a message. */
  #signal(entry: MailEntry): void {
    const { reason } = decode(entry.data) as { reason: unknown };
    if (reason === 'kill') {
      this.#discard(entry);
      this.#end('killed', null);
      return;
    }
    if (this.locals.trapExit) {
      entry.kind = MAIL_MESSAGE;
      entry.data = encode({ type: 'exit', from: entry.from, reason });
      if (entry.stored) this.#env.trapped(entry.id, entry.data);
      this.#mailbox.push(entry);
      return;
    }
    this.#discard(entry);
    if (reason !== 'normal') this.#end(reason, null);
  }

  /** A signal handled on arrival: it never entered the mailbox. */
  #discard(entry: MailEntry): void {
    entry.taken = true;
    if (entry.stored) this.#env.taken(entry.id);
  }

  #consume(entry: MailEntry): void {
    if (entry.taken) return;
    this.#mailbox.remove(entry);
    entry.taken = true;
    if (entry.stored) this.#env.taken(entry.id);
    // A `match` already decoded it: the receive that took it gets that copy
    // instead of decoding the same bytes again (see decode()).
    if (entry.decoded) this.#handoff = entry;
  }

  #message(entry: MailEntry): unknown {
    if (!entry.decoded) {
      entry.msg = decode(entry.data);
      entry.decoded = true;
    }
    return entry.msg;
  }

  /**
   * What `accepts` sees: the message is decoded only if it looks (a receive
   * without `match` takes anything and never does), and at most once.
   */
  #delivered(entry: MailEntry): Delivered {
    const message = (e: MailEntry) => this.#message(e);
    return {
      id: entry.id,
      from: entry.from,
      data: entry.data,
      get msg() {
        return message(entry);
      },
    };
  }

  /** Offer new arrivals to waiting mailbox-driven calls, in arrival then step order. */
  #offer(): void {
    if (this.#offered >= this.#arrivals) return;
    const from = this.#offered;
    this.#offered = this.#arrivals;
    let waiting = false;
    for (const p of this.#pending.values()) {
      if (p.def.accepts !== undefined) {
        waiting = true;
        break;
      }
    }
    if (!waiting) return;
    for (const entry of this.#mailbox.since(from)) {
      const d = this.#delivered(entry);
      for (const p of this.#pending.values()) {
        if (p.def.accepts === undefined || !p.def.accepts(this, p.state, d)) continue;
        this.#consume(entry);
        this.#resolve(p.step, true, { id: entry.id, from: entry.from, data: entry.data });
        break;
      }
      if (this.#ended()) return;
    }
  }

  // ───────────────────────────── NativeHost ─────────────────────────────

  clock(): number {
    return Date.now();
  }

  encode(value: unknown, what: string): Uint8Array {
    try {
      return encode(value);
    } catch (err) {
      const e = err as BeamlineError;
      throw new BeamlineError(e.code ?? ErrorCodes.UNSERIALIZABLE, `${what}: ${e.message}`, { pid: this.pid, cause: err });
    }
  }

  decode(bytes: Uint8Array): unknown {
    const handoff = this.#handoff;
    this.#handoff = null;
    if (handoff !== null && handoff.data === bytes) return handoff.msg;
    return decode(bytes);
  }

  send(to: string, data: Uint8Array): void {
    this.#env.deliver(this, to, data);
  }

  take(match: ((msg: unknown) => boolean) | undefined): Delivered | undefined {
    const entry = this.#mailbox.find(match === undefined ? () => true : (e) => match(this.#message(e)));
    if (entry === undefined) return undefined;
    this.#consume(entry);
    return { id: entry.id, from: entry.from, msg: undefined, data: entry.data };
  }

  mailSelf(msg: unknown): void {
    if (this.state !== 'live') return;
    this.#arrive(this.#env.newMailId(), this.pid, MAIL_MESSAGE, encode(msg), false);
    this.#env.ready(this);
  }

  whereis(name: string): Pid | undefined {
    return this.#env.whereis(name);
  }

  nameChanged(name: string, owner: Pid | null): void {
    this.#env.nameChanged(name, owner);
  }

  notify(notice: Notice): void {
    if (this.state === 'live') this.#acc().effects.push(notice);
  }

  spawnHere(step: number, child: ChildSpec): Pid | null {
    return this.state === 'live' ? this.#env.spawnHere(this, step, child) : null;
  }

  emitLog(line: string): void {
    this.#acc().logs.push(line);
  }

  exit(reason: unknown): never {
    if (this.state === 'replaying') {
      const how = reason === 'normal' ? 'normal' : `exit(${safeJson(reason)})`;
      if (this.#endOfDryReplay(how)) throw new ProcessExit();
      const err = this.#located(this.#cursor!.finishedEarly(this.#step, how === 'normal' ? 'exit("normal")' : how));
      this.#fail(err);
      throw err;
    }
    this.#end(reason, null);
    throw new ProcessExit();
  }

  continueAsNew(args: Uint8Array, opts?: { dropHistory?: boolean }): never {
    if (this.state === 'replaying') {
      if (this.#endOfDryReplay('continueAsNew')) throw new ProcessExit();
      const err = this.#located(this.#cursor!.finishedEarly(this.#step, 'continueAsNew'));
      this.#fail(err);
      throw err;
    }
    this.#end('continued', null);
    this.#exit!.next = args;
    if (opts?.dropHistory === true) this.#exit!.dropHistory = true;
    throw new ProcessExit();
  }

  resolveLocal(step: number, ok: boolean, value: unknown): void {
    if (this.#localWork > 0) this.#localWork--;
    if (this.state === 'exited') return;
    (this.#local ??= []).push([step, ok, value]);
    this.#env.ready(this);
  }

  /** A native started work on this thread that will end in resolveLocal (a step's fn). */
  beginLocal(): void {
    this.#localWork++;
  }

  /** Work is running on this thread for this process: its thread must not forget it. */
  get busy(): boolean {
    return this.#localWork > 0 || this.#local !== null;
  }

  /** Settle a waiting call from the script's own progress (not recorded: replay reproduces it). */
  complete(step: number, ok: boolean, value: unknown): void {
    const pending = this.#pending.get(step);
    if (pending === undefined) return;
    this.#pending.delete(step);
    if (this.state === 'live' && pending.effect) this.#acc().settled.push(step);
    if (ok) pending.resolve?.(value);
    else pending.reject?.(value);
  }

  cancelStep(step: number): boolean {
    const pending = this.#pending.get(step);
    if (pending === undefined) return false;
    this.#pending.delete(step);
    if (this.state === 'live' && pending.effect) this.#acc().settled.push(step);
    return true;
  }

  cancelScope(scope: object, reason: Error): void {
    const doomed: Pending[] = [];
    for (const p of this.#pending.values()) {
      for (let s = p.scope; s !== undefined; s = s.parent) {
        if (s === scope) {
          doomed.push(p);
          break;
        }
      }
    }
    for (const p of doomed) {
      this.#pending.delete(p.step);
      if (this.state === 'live' && p.effect) this.#acc().settled.push(p.step);
      p.def.cancel?.(this, p.state, p.step);
      p.reject?.(reason);
    }
  }

  currentScope(): object | undefined {
    return this.#env.currentScope();
  }

  withinScope<T>(scope: object, fn: () => T): T {
    return this.#env.withinScope(scope, fn);
  }

  /** Run a query handler: natives that record refuse while it runs. */
  query(name: string, args: unknown[]): unknown {
    const handler = this.locals.queries.get(name);
    if (handler === undefined) {
      throw new BeamlineError(ErrorCodes.ARG_INVALID, `process ${this.pid} has no query handler '${name}'`, { pid: this.pid, name });
    }
    this.#querying = true;
    try {
      return handler(...args);
    } finally {
      this.#querying = false;
    }
  }

  // ───────────────────────────── lifecycle ─────────────────────────────

  #invoke(): void {
    let result: Promise<unknown>;
    try {
      result = Promise.resolve(this.#fn(this.ctx, ...this.args));
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (value) => this.#finished(true, value),
      (err) => this.#finished(false, err),
    );
  }

  #finished(ok: boolean, value: unknown): void {
    if (this.state === 'exited') return;
    if (this.state === 'replaying') {
      const how = ok ? 'normal' : `a throw (${String((value as Error)?.message ?? value)})`;
      if (this.#endOfDryReplay(how)) return;
      const err = this.#cursor!.finishedEarly(this.#step, ok ? 'a return' : how);
      const stack = !ok && value instanceof Error ? value.stack : undefined;
      this.#fail(stack === undefined ? err : this.#located(err, stack));
      return;
    }
    if (!ok) {
      this.#end(toErrorData(value), null);
      return;
    }
    let result: Uint8Array;
    try {
      result = encode(value === undefined ? null : value);
    } catch (err) {
      this.#end(toErrorData(new BeamlineError(ErrorCodes.UNSERIALIZABLE, `process result: ${(err as Error).message}`)), null);
      return;
    }
    this.#end('normal', result);
  }

  /**
   * Is anything able to wake this process? A waiting native (a promise the
   * executor owns), a step function running on this thread, or a resolution
   * queued for the next round. A round that ends live with none of these means
   * the script awaits a promise from outside the runtime.
   */
  #waiting(): boolean {
    if (this.#fresh || this.#localWork > 0 || this.#local !== null || this.#marks !== null) return true;
    for (const p of this.#pending.values()) if (p.def.kind === 'wait') return true;
    return false;
  }

  /**
   * The script's promise is unsettled and no native is pending: it awaits
   * something foreign (a plain setTimeout, fs.promises, fetch). Nothing the
   * journal holds can ever resume it, and letting it settle later would make
   * replay depend on wall-clock luck, so it fails now, by name, rather than
   * sitting parked forever (see "Foreign awaits" in README).
   */
  #foreignAwait(): void {
    const err = new BeamlineError(
      ErrorCodes.FOREIGN_AWAIT,
      `process ${this.pid} awaited a promise that no native settles (after step ${this.#step}); ` +
        `a script may wait only on ctx natives: use ctx.sleep(d) instead of setTimeout, and ctx.step(name, fn) for I/O such as fs or fetch`,
      { pid: this.pid, step: this.#step },
    );
    // The stack would show the executor, not the script: leave it out.
    const data = toErrorData(err, false);
    this.#end(data, null);
  }

  /** A method, so TypeScript does not narrow `state` across calls that may end the process. */
  #ended(): boolean {
    return this.state === 'exited';
  }

  #end(reason: unknown, result: Uint8Array | null): void {
    if (this.state === 'exited') return;
    this.state = 'exited';
    this.#exit = { reason, result, lastMessage: this.locals.lastMessage };
    this.#pending.clear();
  }

  /**
   * A dry replay of a history that ends in an exit: the script ended (`how`)
   * in that last round. True when that is where the history ends (the state
   * is then 'replayed', or 'exited' with the divergence when the script ended
   * otherwise than recorded); false outside a dry replay's last round.
   */
  #endOfDryReplay(how: string): boolean {
    if (!this.#dry || !this.#cursor!.atExit) return false;
    const err = this.#cursor!.finishedAtExit(this.#step, how);
    if (err !== null) this.#fail(err);
    else this.#stopDry();
    return true;
  }

  #stopDry(): void {
    this.state = 'replayed';
    this.#cursor = null;
    this.#pending.clear();
  }

  /** Replay diverged: end the process without adding to its history (the kernel records the exit). */
  #fail(err: Error): void {
    if (this.state === 'exited') return;
    this.#round = null;
    this.#exitRecorded = false;
    this.state = 'live';
    this.#end(toErrorData(err), null);
  }

  #goLive(): void {
    if (this.#dry) {
      this.#stopDry();
      return;
    }
    this.state = 'live';
    this.#cursor = null;
    const seen = new Set<number>();
    // What it takes over is not counted against --max-mailbox: a run
    // restarted after BL_MAILBOX_FULL gets the chance to drain it.
    this.#takingOver = true;
    for (const m of this.#storedMail ?? NONE) {
      seen.add(m.id);
      this.#arrive(m.id, m.from, m.kind, m.data, true);
    }
    this.#takingOver = false;
    this.#storedMail = null;
    for (const entry of this.#heldLocal ?? NONE) {
      entry.arr = ++this.#arrivals;
      this.#mailbox.push(entry);
    }
    this.#heldLocal = null;
    // Markers queued during replay may repeat stored entries (sent before the
    // history was read); the journal's copy wins.
    if (this.#marks !== null) {
      this.#marks = this.#marks.filter((m) => m.m !== 'mail' || !seen.has(m.id));
      if (this.#marks.length === 0) this.#marks = null;
    }
    this.#takenOver = seen.size > 0 ? seen : null;
    for (const p of [...this.#pending.values()]) {
      if (this.state !== 'live') break;
      p.def.resume?.(this, p.state, p.step);
    }
  }

  get #mailbox(): Mailbox {
    return (this.#mailboxOrNull ??= new Mailbox());
  }

  #acc(): RoundAcc {
    return (this.#round ??= { r: [], c: [], effects: [], settled: [], logs: [], impure: false });
  }
}

interface RoundAcc {
  r: RoundRecord['r'];
  c: CommandTuple[];
  effects: Effect[];
  settled: number[];
  logs: string[];
  /** Something in the round replay could not rebuild from earlier rows and journaled results alone (see RoundOut.pure). */
  impure: boolean;
}

const NONE: readonly never[] = Object.freeze([]);

/** A run whose history passes this many rows gets one warning line. */
export const HISTORY_WARN_ROWS = 10_000;
const EMPTY_ROUND: RoundAcc = Object.freeze({ r: [], c: [], effects: [], settled: [], logs: [], impure: true }) as unknown as RoundAcc;

/** `file:line:column` of the innermost stack frame in `script` (a module URL may carry a query). */
export function scriptLine(stack: string, script: string): string | undefined {
  for (const frame of stack.split('\n').slice(1)) {
    const m = /\(?((?:file:\/\/)?[^()\s]+?)(?:\?[^:()\s]*)?:(\d+):(\d+)\)?\s*$/.exec(frame);
    if (m === null) continue;
    let file = m[1]!;
    if (file.startsWith('file://')) {
      try {
        file = fileURLToPath(file);
      } catch {
        continue;
      }
    }
    if (file === script) return `${file}:${m[2]}:${m[3]}`;
  }
  return undefined;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
