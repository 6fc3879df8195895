// Bringing processes back from the journal: every live one when the node
// boots, and, with several nodes, the ones this node takes over from a node
// that died (adopt), with the mail other nodes left for them in its inbox.

import type { InboxMail, ProcessRow, Store } from '../journal/store.js';
import type { Pid } from '../protocol.js';
import type { Commit } from './commit.js';
import type { Effects } from './effects.js';
import type { Relations } from './relations.js';
import { NOTICE_KINDS, type Remote } from './remote.js';
import type { Scheduler } from './scheduler.js';
import { fromJournal, type KProc, type ProcessTable } from './table.js';

export interface RecoveryOptions {
  store: Store;
  table: ProcessTable;
  commit: Commit;
  scheduler: Scheduler;
  relations: Relations;
  effects: Effects;
  remote: Remote;
  /** May the node take on work (not closing, journal writable)? */
  open: () => boolean;
}

export class Recovery {
  readonly #opts: RecoveryOptions;
  /**
   * Inbox entries taken, by seq, with the batch that deletes them: a look at
   * the inbox that began before that batch landed may hand them over again,
   * and is skipped for them (see ClusterEvent 'delivered').
   */
  readonly #inboxTaken = new Map<number, number>();
  #adoptHook: ((pids: ReadonlySet<Pid>) => void) | null = null;

  constructor(opts: RecoveryOptions) {
    this.#opts = opts;
  }

  /**
   * Mail other nodes left in the inbox (several nodes), from a look at it
   * that began once batch `after` had landed: what was taken up to that
   * batch is out of the inbox, no longer a possible repeat.
   */
  delivered(after: number, mail: readonly InboxMail[]): void {
    for (const [seq, batch] of this.#inboxTaken) if (batch <= after) this.#inboxTaken.delete(seq);
    this.#takeInbox(mail);
  }

  /**
   * Rebuild processes this node took over from one that died (several
   * nodes on PostgreSQL) exactly as a boot rebuilds its own: by replay, with
   * their timers re-armed, calls re-issued under the same idempotency key,
   * and their supervisors resumed. Pids already here are left alone.
   */
  async adopt(pids: readonly Pid[]): Promise<number> {
    const fresh = new Set(pids.filter((pid) => this.#opts.table.get(pid) === undefined));
    if (fresh.size === 0) return 0;
    // A sender's order survives the move: what this node sent them before
    // is committed into the inbox and taken first; what it sends them
    // meanwhile is held, and follows.
    this.#opts.remote.hold(fresh);
    await this.#opts.commit.flushed();
    if (!this.#opts.open()) return 0;
    const n = this.rebuild(fresh);
    this.#takeInbox(this.#opts.store.inbox?.([...fresh]) ?? [], fresh);
    for (const h of this.#opts.remote.release(fresh)) {
      const target = this.#opts.table.lookup(h.to);
      if (target === undefined) this.#opts.remote.send(h.to, h.from, h.kind, h.data);
      else this.#deliver(target, h.from, h.kind, h.data);
    }
    this.#adoptHook?.(fresh);
    return n;
  }

  /**
   * Mail other nodes sent to this node's processes (several nodes), in inbox
   * order: each entry taken like a local send (mail.put, marked), its inbox
   * row deleted in the same commit. Entries for processes moving in are left
   * for adopt(); `moving`: the ones adopt() is taking now.
   */
  #takeInbox(mail: readonly InboxMail[], moving: ReadonlySet<Pid> | null = null): void {
    let took = false;
    for (const m of mail) {
      if (this.#inboxTaken.has(m.seq)) continue;
      if (!m.live) {
        // A link or monitor that reached a process after it ended: 'noproc', as for a dead pid here.
        this.#opts.relations.noticeTooLate(m.pid, m.sender, m.kind, m.data);
      } else {
        const target = this.#opts.table.get(m.pid);
        if (target === undefined || (moving === null && this.#opts.remote.holding(m.pid))) continue;
        this.#deliver(target, m.sender, m.kind, m.data);
      }
      this.#opts.commit.push({ type: 'inbox.taken', seq: m.seq });
      this.#inboxTaken.set(m.seq, this.#opts.commit.batchSoFar());
      took = true;
    }
    if (took) {
      // Another node's sender waits on nothing here, but the inbox row should not linger.
      this.#opts.commit.requestFlush();
      this.#opts.scheduler.requestPump();
    }
  }

  /** Mail or a notice for a process of this node, from another node. */
  #deliver(target: KProc, from: Pid, kind: number, data: Uint8Array): void {
    if (kind >= NOTICE_KINDS) this.#opts.relations.notice(target, from, kind, data);
    else this.#opts.relations.mail(target, from, kind, data);
  }

  /** The supervision resumes adopted trees (see adopt). */
  onAdopt(fn: (pids: ReadonlySet<Pid>) => void): void {
    this.#adoptHook = fn;
  }

  /** Load live processes from the journal into the table and schedule them: all (boot), or those in `only`. */
  rebuild(only: ReadonlySet<Pid> | null): number {
    const now = Date.now();
    const wanted = (pid: Pid) => only === null || only.has(pid);
    // Paged out and untouched since (an idle server): no record, no rebuild,
    // and its row not even read, unless mail was stored for it meanwhile
    // (then it is rebuilt, like any process something happened to; its
    // links, monitors, names and effects, if any, read it back as they are
    // recovered).
    const paged = this.#opts.store.pagedOut?.() ?? new Set<Pid>();
    const left: Pid[] = [];
    let rows: ProcessRow[];
    if (paged.size === 0 || this.#opts.store.liveUnpaged === undefined) {
      rows = this.#opts.store.liveProcesses();
    } else {
      const mail = this.#opts.store.mailboxCounts();
      rows = this.#opts.store.liveUnpaged();
      for (const pid of paged) {
        if (!wanted(pid)) continue;
        if (!mail.has(pid) && this.#opts.table.startOut(pid)) left.push(pid);
        else {
          const row = this.#opts.store.process(pid);
          if (row !== undefined) rows.push(row);
        }
      }
    }
    rows = rows.filter((row) => wanted(row.pid));
    const added: KProc[] = [];
    for (const row of rows) {
      const proc = fromJournal(row, now);
      this.#opts.table.add(proc);
      added.push(proc);
    }
    this.#opts.relations.recover(this.#opts.store, only);
    for (const eff of this.#opts.store.effects()) if (only === null || only.has(eff.pid)) this.#opts.effects.recover(eff);
    // Read back during the recovery: rebuilt like the rest.
    for (const pid of left) if (!this.#opts.table.isPagedOut(pid)) added.push(this.#opts.table.get(pid)!);
    for (const proc of added) this.#opts.scheduler.schedule(proc);
    this.#opts.scheduler.requestPump();
    return rows.length + left.length;
  }
}
