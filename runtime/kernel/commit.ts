// Group commit: the pending batch, the store's writer, and what waits for a
// commit. Every event since the last commit goes in one transaction (on the
// writer's thread), then the work waiting on it runs. While a commit is on
// its way to disk the next batch keeps growing; it goes as soon as the
// commit returns.
//
// The id counters (next pid serial, next message id per slot) are persisted
// with the batch that moved them, so a restarted node never reuses one.

import { BeamlineError, ErrorCodes } from '../errors.js';
import { Batch } from '../journal/batch.js';
import type { JournalEvent } from '../journal/events.js';
import type { StoreWriter } from '../journal/store.js';
import type { CommitStats } from '../journal/writer.js';
import { ID_STRIDE, KERNEL_ID_SLOT } from '../protocol.js';

export interface CommitOptions {
  writer: StoreWriter;
  /** The next pid serial and the kernel's next message id, as the journal last recorded them. */
  nextSerial: number;
  kernelMailId: number;
  /** [slot, next message id] of every slot, persisted with the counters. */
  slotIds: () => Array<[number, number]>;
  /** A commit landed: work waiting on it (cold starts) may go. */
  committed: () => void;
  /** The journal cannot be written: the node must stop. */
  fatal: (err: BeamlineError) => void;
}

/**
 * A batch nobody waits for (rounds of processes that only compute and send)
 * is committed within this long, or with the next batch somebody does wait
 * for, whichever comes first. Committing it at once would put its fsync in
 * front of the next one a request, a reply or an exit waits for: a sequential
 * call loop paid two fsyncs per call, one of them for a row nobody needed yet.
 */
const LAZY_MS = 10;
/** A batch this large is committed at once, waited for or not (bounds the kernel's memory). */
const EAGER_EVENTS = 4096;

export class Commit {
  readonly #opts: CommitOptions;
  readonly #events = new Batch();
  #after: Array<() => void> = [];
  /** Work waiting for one batch, not for everything recorded: [batch, fn], in the order asked. */
  #afterBatch: Array<[number, () => void]> = [];
  #flushScheduled = false;
  /** Somebody waits for what is pending: commit it as soon as the writer is free. */
  #eager = false;
  #lazy: NodeJS.Timeout | null = null;
  #state: 'idle' | 'committing' | 'failed' = 'idle';
  #sent = 0;
  #committed = 0;
  #nextSerial: number;
  #kernelMailId: number;
  #countersMoved = false;
  #error: BeamlineError | null = null;

  constructor(opts: CommitOptions) {
    this.#opts = opts;
    this.#nextSerial = opts.nextSerial;
    this.#kernelMailId = opts.kernelMailId;
    // A writer that can fail between commits (a lease lost while idle) stops the node at once.
    opts.writer.onFatal?.((err) => this.#fail(err));
  }

  /** Set once a commit failed: nothing is written after it. */
  get error(): BeamlineError | null {
    return this.#error;
  }

  get committing(): boolean {
    return this.#state === 'committing';
  }

  /** The last batch known durable. */
  get committedBatch(): number {
    return this.#committed;
  }

  /** The batch a cold start must wait for: everything recorded until now. */
  batchSoFar(): number {
    return this.#events.size > 0 ? this.#sent + 1 : this.#sent;
  }

  /** Add an event to the pending batch (committed with the next flush). */
  push(event: JournalEvent): void {
    this.#events.push(event);
    if (this.#events.size >= EAGER_EVENTS) this.requestFlush();
  }

  /** Run `fn` once everything recorded so far is committed (it asks for that commit). */
  after(fn: () => void): void {
    this.#after.push(fn);
    this.requestFlush();
  }

  /**
   * Run `fn` once batch `batch` is committed (at once if it is already):
   * for work whose causes are all in that batch or earlier, so it need not
   * wait for what was recorded after them.
   */
  afterBatch(batch: number, fn: () => void): void {
    if (batch <= this.#committed) {
      fn();
      return;
    }
    this.#afterBatch.push([batch, fn]);
    if (batch > this.#sent) this.requestFlush(); // the pending batch: it must go now (one in flight needs nothing)
  }

  /** Resolves once everything recorded so far is committed. */
  flushed(): Promise<void> {
    return new Promise((resolve) => this.after(resolve));
  }

  serial(): number {
    this.#countersMoved = true;
    return this.#nextSerial++;
  }

  /** `n` consecutive pid serials; returns the first (a range a thread gives its children, see Scheduler). */
  serials(n: number): number {
    this.#countersMoved = true;
    const first = this.#nextSerial;
    this.#nextSerial += n;
    return first;
  }

  /** A message id from the kernel's own id space (see ID_STRIDE). */
  newMailId(): number {
    const id = this.#kernelMailId;
    this.#kernelMailId += ID_STRIDE;
    this.#countersMoved = true;
    return id;
  }

  /** A thread used message ids: persist the slot's counter with the next commit. */
  countersMoved(): void {
    this.#countersMoved = true;
  }

  /** Somebody waits for what is recorded: commit it as soon as the writer is free. */
  requestFlush(): void {
    this.#eager = true;
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => this.#flush());
  }

  /**
   * A commit somebody asked for goes now rather than at the end of this turn
   * of the event loop, if the writer is free. The scheduler calls this just
   * before it hands slices to threads: on this 2-core machine, posting a slice
   * to an idle thread often gives that thread the kernel's core for most of a
   * millisecond, and a commit asked for in the same turn (an API's answer,
   * which the process's next request must wait for) then left only after it.
   * Sent first, its fsync overlaps the slice instead of following it.
   */
  flushAsked(): void {
    if (this.#flushScheduled && this.#state === 'idle') this.#flush();
  }

  /** Nobody waits for what is recorded yet: commit it within LAZY_MS, or with the next batch somebody waits for. */
  requestLazyFlush(): void {
    if (this.#lazy !== null || this.#flushScheduled) return;
    this.#lazy = setTimeout(() => {
      this.#lazy = null;
      this.requestFlush();
    }, LAZY_MS);
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#state !== 'idle') return; // the commit in flight looks at #eager when it lands
    this.#eager = false;
    if (this.#lazy !== null) {
      clearTimeout(this.#lazy);
      this.#lazy = null;
    }
    if (this.#countersMoved) {
      this.#countersMoved = false;
      this.#events.push({ type: 'meta.set', key: 'pid_next', value: String(this.#nextSerial) });
      const ids = this.#opts.slotIds();
      ids.push([KERNEL_ID_SLOT, this.#kernelMailId]);
      this.#events.push({ type: 'meta.set', key: 'mail_ids', value: JSON.stringify(ids) });
    }
    const after = this.#after;
    if (this.#events.size === 0 && after.length === 0) return;
    this.#after = [];
    if (this.#events.size === 0) {
      // Nothing new, nothing in flight: everything they wait for is durable.
      for (const fn of after) fn();
      return;
    }
    const events = this.#events.drain();
    const batch = ++this.#sent;
    this.#state = 'committing';
    this.#opts.writer.commit(events).then(
      () => {
        this.#state = 'idle';
        this.#committed = batch;
        for (const fn of after) fn();
        if (this.#afterBatch.length > 0) this.#runDue();
        // after() and afterBatch() on the pending batch set #eager: nothing to scan.
        if (this.#eager) this.#flush();
        else if (this.#events.size > 0 || this.#countersMoved) this.requestLazyFlush();
        this.#opts.committed();
      },
      (err: Error) => this.#fail(err),
    );
  }

  #fail(err: Error): void {
    if (this.#state === 'failed') return;
    this.#state = 'failed';
    if (err instanceof BeamlineError && (err.code === ErrorCodes.LEASE_LOST || err.code === ErrorCodes.JOURNAL_UNAVAILABLE)) {
      this.#error = err;
    } else {
      // A full disk or a read-only journal is not damage: name it (BL_JOURNAL_UNWRITABLE).
      const unwritable = /SQLITE_(FULL|READONLY|IOERR)|disk is full|readonly database/i.test(`${(err as { code?: string }).code ?? ''} ${err.message}`);
      this.#error = new BeamlineError(unwritable ? ErrorCodes.JOURNAL_UNWRITABLE : ErrorCodes.JOURNAL_CORRUPT, `journal write failed: ${err.message}`, { cause: err });
    }
    this.#opts.fatal(this.#error);
  }

  #runDue(): void {
    const waiting = this.#afterBatch;
    this.#afterBatch = [];
    for (const entry of waiting) {
      if (entry[0] <= this.#committed) entry[1]();
      else this.#afterBatch.push(entry);
    }
  }

  close(): Promise<void> {
    if (this.#lazy !== null) clearTimeout(this.#lazy);
    this.#lazy = null;
    return this.#opts.writer.close();
  }

  /** What the writer has committed since boot. */
  stats(): CommitStats {
    return this.#opts.writer.stats();
  }
}
