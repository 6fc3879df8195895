// Kernel effects: what a round asked the kernel to do (protocol.ts's Effect,
// a union tagged by `e`). Timers and HTTP requests are the kernel's own work
// and live here; spawns, links, monitors, signals and names are handed to
// the parts that own them.
//
// A result the process will consume is committed before it is delivered,
// and a request that leaves the node leaves only once the command that
// caused it is committed.

import { Abort } from '../abort.js';
import { BeamlineError, ErrorCodes, toErrorData } from '../errors.js';
import { decode, encode } from '../journal/codec.js';
import type { EffectRow } from '../journal/store.js';
import { MAIL_SIGNAL, type Effect, type Pid } from '../protocol.js';
import type { Commit } from './commit.js';
import { HttpClient, type ApiRequest } from './http-client.js';
import type { Relations } from './relations.js';
import type { Remote } from './remote.js';
import type { Scheduler } from './scheduler.js';
import { effectsOf, type KEffect, type KProc, type ProcessTable, type TimerRef } from './table.js';
import { TimerService } from './timers.js';

export interface EffectsOptions {
  table: ProcessTable;
  commit: Commit;
  scheduler: Scheduler;
  relations: Relations;
  /** Signals to another node's processes (several nodes). */
  remote: Remote;
  /** Start a process for a parent's spawn (throws, e.g. BL_NAME_TAKEN, when it cannot). */
  spawn: (parent: KProc, eff: Extract<Effect, { e: 'spawn' }>) => Pid;
  /** Start a dynamic child of a simple_one_for_one supervisor. */
  startDynamic: (sup: string, args: unknown[]) => Pid;
  /** False once the node is closing: no request leaves then. */
  open: () => boolean;
  /** callApi may reach only these hosts (--allow-hosts); unset: any. */
  allowHosts?: readonly string[];
}

const EMPTY = new Uint8Array(0);

export class Effects {
  readonly #opts: EffectsOptions;
  readonly #commit: Commit;
  readonly #scheduler: Scheduler;
  readonly #relations: Relations;
  readonly #timers: TimerService<TimerRef>;
  // Enough sockets per origin for thousands of processes waiting on one slow API at once.
  readonly #http: HttpClient;

  constructor(opts: EffectsOptions) {
    this.#opts = opts;
    this.#http = new HttpClient({ connections: 2048, allowHosts: opts.allowHosts });
    this.#commit = opts.commit;
    this.#scheduler = opts.scheduler;
    this.#relations = opts.relations;
    this.#timers = new TimerService((due) => this.#timersFired(due));
    // Slices carry few starts while a timer is about to fire (scheduler.ts).
    opts.scheduler.nextTimer = () => this.#timers.nextAt;
  }

  get timersArmed(): number {
    return this.#timers.size;
  }

  /**
   * Carry out one effect a round of `proc` asked for. `causes`: the batch
   * whose commit makes everything that led to the effect durable; null when
   * that is everything recorded so far.
   */
  apply(proc: KProc, eff: Effect, causes: number | null = null): void {
    switch (eff.e) {
      case 'timer': {
        const timer = this.#timers.arm(eff.at, { proc, run: proc.run, step: eff.step });
        effectsOf(proc).set(eff.step, { kind: 'timer', timer });
        this.#commit.push({ type: 'effect.armed', pid: proc.pid, run: proc.run, step: eff.step, kind: 'timer', at: eff.at, data: EMPTY });
        return;
      }
      case 'http': {
        effectsOf(proc).set(eff.step, { kind: 'http', abort: null });
        this.#commit.push({
          type: 'effect.armed',
          pid: proc.pid,
          run: proc.run,
          step: eff.step,
          kind: 'http',
          at: null,
          data: encode({ req: eff.req, key: eff.key }),
        });
        const run = proc.run;
        // The request leaves only once what caused it is durable: replay then
        // reaches the very same request (same Idempotency-Key, same body).
        this.#http.remember(eff.key, eff.cred); // literal credentials: memory only, never in `data` (see natives/call-api.ts)
        const start = () => this.#startHttp(proc, run, eff.step, eff.req, eff.key);
        if (causes === null) this.#commit.after(start);
        else this.#commit.afterBatch(causes, start);
        return;
      }
      case 'spawn':
        this.#resolveWith(proc, eff.step, () => this.#opts.spawn(proc, eff));
        return;
      case 'startChild':
        this.#resolveWith(proc, eff.step, () => this.#opts.startDynamic(eff.sup, decode(eff.args) as unknown[]));
        return;
      case 'link': {
        const other = this.#opts.table.resolve(eff.pid);
        if (other === undefined) this.#relations.linkRemote(proc, eff.pid);
        else this.#relations.link(proc, other.pid);
        return;
      }
      case 'unlink':
        this.#relations.unlink(proc, eff.pid);
        return;
      case 'monitor': {
        const target = this.#opts.table.resolve(eff.pid);
        if (target === undefined) this.#relations.monitorRemote(proc, eff.ref, eff.pid);
        else this.#relations.monitor(proc, eff.ref, target);
        return;
      }
      case 'demonitor':
        this.#relations.demonitor(proc, eff.ref);
        return;
      case 'signal': {
        const target = this.#opts.table.resolve(eff.to);
        if (target !== undefined) this.#relations.signal(proc.pid, target, eff.reason);
        else this.#opts.remote.send(eff.to, proc.pid, MAIL_SIGNAL, encode({ reason: eff.reason }));
        return;
      }
      case 'register':
        this.#relations.register(proc, eff.name);
        return;
      case 'unregister':
        if (this.#opts.table.names.get(eff.name) === proc.pid) this.#relations.unregister(eff.name);
        return;
      default: {
        const never: never = eff;
        throw new BeamlineError(ErrorCodes.INTERNAL, `unknown effect ${JSON.stringify(never)}`);
      }
    }
  }

  /** The process consumed or cancelled the effect at `step`. */
  settle(proc: KProc, step: number): void {
    const eff = proc.effects?.get(step);
    if (eff === undefined) return;
    proc.effects?.delete(step);
    this.#cancel(eff, () => new BeamlineError(ErrorCodes.TIMEOUT, 'cancelled'));
    this.#commit.push({ type: 'effect.cleared', pid: proc.pid, run: proc.run, step });
  }

  /** Cancel and forget every effect of the process's current run. */
  dropAll(proc: KProc): void {
    if (proc.effects === null || proc.effects.size === 0) return;
    let why: Error | null = null;
    const reason = () => (why ??= new BeamlineError(ErrorCodes.NOPROC, `process ${proc.pid} ended its run`));
    for (const eff of proc.effects.values()) this.#cancel(eff, reason);
    proc.effects = null;
    // Every effect row of this run is in `effects`; with none, there is nothing to delete.
    this.#commit.push({ type: 'effect.cleared', pid: proc.pid, run: proc.run, step: null });
  }

  /**
   * `why` makes the abort reason, only for a request still in flight: an
   * error captures a stack, and every timer a process consumes is settled
   * here (a wave of 1,000 wakes spent a sixth of the kernel's time on them).
   */
  #cancel(eff: KEffect, why: () => Error): void {
    switch (eff.kind) {
      case 'timer':
        if (eff.timer !== null) this.#timers.cancel(eff.timer);
        return;
      case 'http':
        // Only a request still in flight has a controller (see #done).
        eff.abort?.abort(why());
        return;
      case 'spawn':
        return;
    }
  }

  /** Re-arm what a recovered process waits on: done effects are delivered, timers re-armed, requests re-issued. */
  recover(eff: EffectRow): void {
    const proc = this.#opts.table.get(eff.pid);
    if (proc === undefined || proc.run !== eff.run) return;
    if (eff.done) {
      effectsOf(proc).set(eff.step, settledEffect(eff.kind));
      proc.marks.push({ m: 'res', run: eff.run, step: eff.step, ok: eff.ok, v: eff.value });
      return;
    }
    switch (eff.kind) {
      case 'timer': {
        const timer = this.#timers.arm(eff.at ?? 0, { proc, run: eff.run, step: eff.step });
        effectsOf(proc).set(eff.step, { kind: 'timer', timer });
        return;
      }
      case 'http': {
        effectsOf(proc).set(eff.step, { kind: 'http', abort: null });
        const { req, key } = decode(eff.data) as { req: ApiRequest; key: string };
        // Already committed as started: re-issue with the same idempotency key.
        queueMicrotask(() => this.#startHttp(proc, eff.run, eff.step, req, key));
        return;
      }
      default:
        effectsOf(proc).set(eff.step, settledEffect(eff.kind));
    }
  }

  /**
   * Importing the HTTP client's library holds the main thread for 100–200 ms
   * here (more on a loaded machine): not while a boot's first slices and
   * commits are under way (a recovered server's first answer waited behind
   * it), and not with a timer due within a second (a timer and a receive's
   * timeout held up together fired in the same turn). Called once every
   * thread has loaded; it imports at the first moment the node is idle, and a
   * call issued before that imports it itself.
   */
  preloadHttpWhenIdle(): void {
    const t = setTimeout(() => {
      if (!this.#opts.open() || this.#http.loading) return;
      const busy =
        this.#scheduler.inFlight > 0 ||
        this.#commit.committing ||
        this.#scheduler.slots.some((s) => s.queue.size > 0) ||
        this.#timers.nextAt - Date.now() < 1000;
      if (busy) this.preloadHttpWhenIdle();
      else this.#http.preload();
    }, 100);
    t.unref();
  }

  close(): Promise<void> {
    this.#timers.stop();
    return this.#http.close();
  }

  #timersFired(due: TimerRef[]): void {
    for (const { proc, run, step } of due) {
      if (proc.run !== run || proc.effects?.has(step) !== true) continue;
      this.#scheduler.mark(proc, { m: 'res', run, step, ok: true, v: null });
    }
  }

  #startHttp(proc: KProc, run: number, step: number, req: ApiRequest, key: string): void {
    const eff = proc.effects?.get(step);
    if (eff?.kind !== 'http' || proc.run !== run || proc.state === 'dead' || !this.#opts.open()) return;
    const abort = new Abort();
    eff.abort = abort;
    // The attempt under way is kept on the effect for the live view (memory only).
    this.#http.request(req, key, abort, (attempt) => (eff.attempt = attempt)).then(
      (res) => this.#done(proc, run, step, true, res),
      (err: unknown) => {
        if (abort.aborted || (err as BeamlineError)?.code === ErrorCodes.NODE_CLOSED) return;
        this.#done(proc, run, step, false, toErrorData(err, false));
      },
    );
  }

  /**
   * An effect's result is known: journal it and wake the process at once.
   * The process may run ahead of the commit — nothing it does that the
   * outside sees (a request, a reply, a log line, its exit) leaves before a
   * commit that covers this result (inputBatch) — so the fsync overlaps the
   * thread hop instead of preceding it.
   */
  #done(proc: KProc, run: number, step: number, ok: boolean, value: unknown): void {
    const eff = proc.effects?.get(step);
    if (proc.run !== run || proc.state === 'dead' || eff === undefined) return;
    if (eff.kind === 'http') {
      eff.abort = null; // finished: nothing left to cancel
      delete eff.attempt;
    }
    let v: Buffer;
    try {
      v = encode(value);
    } catch (err) {
      // A result the journal cannot hold fails this one effect. Thrown here it
      // would kill the node, and the effect, still open in the journal, would
      // be re-issued and kill it again on every boot.
      ok = false;
      v = encode(toErrorData(err, false));
    }
    this.#commit.push({ type: 'effect.done', pid: proc.pid, run, step, ok, value: v });
    proc.inputBatch = this.#commit.batchSoFar();
    this.#scheduler.mark(proc, { m: 'res', run, step, ok, v });
    this.#commit.requestFlush();
  }

  /** Run a start the kernel completes at once; its pid, or the error it threw, is the effect's result. */
  #resolveWith(proc: KProc, step: number, start: () => unknown): void {
    let ok = true;
    let value: unknown;
    try {
      value = start();
    } catch (err) {
      ok = false;
      value = toErrorData(err, false);
    }
    this.#resolveNow(proc, step, ok, value);
  }

  /**
   * An effect the kernel completes at once (spawn, startChild): journaled as
   * armed-and-done so a crash before the process consumes it re-delivers it.
   */
  #resolveNow(proc: KProc, step: number, ok: boolean, value: unknown): void {
    const v = encode(value);
    effectsOf(proc).set(step, { kind: 'spawn' });
    this.#commit.push({ type: 'effect.armed', pid: proc.pid, run: proc.run, step, kind: 'spawn', at: null, data: EMPTY, done: { ok, value: v } });
    this.#scheduler.mark(proc, { m: 'res', run: proc.run, step, ok, v });
  }
}

/** A recovered effect that is already done, or of a kind with nothing left to cancel. */
function settledEffect(kind: string): KEffect {
  switch (kind) {
    case 'timer':
      return { kind: 'timer', timer: null };
    case 'http':
      return { kind: 'http', abort: null };
    default:
      return { kind: 'spawn' };
  }
}
