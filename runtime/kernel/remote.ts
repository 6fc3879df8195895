// Mail for processes this node does not own (several nodes on PostgreSQL).
//
// A target missing from the process table may live on another node: the
// mail is journaled as `mail.remote` (the store's inbox) and committed with
// the next batch; the owner's writer moves it into the process's mailbox in
// inbox order (FIFO per sender) and hands it to its kernel (delivered()).
// Links and monitors across nodes travel the same way as notices the owner's
// kernel applies to its relations.
//
// A process taken over from a dead node is *held* while it moves in: mail
// this node sends it meanwhile waits here, and goes after everything sent
// to it earlier (which the move takes from the inbox first), so a sender's
// order survives the move.
//
// On one node (SQLite) nothing is remote: a send to an unknown pid is
// dropped, as in Erlang.

import type { Commit } from './commit.js';
import type { Pid } from '../protocol.js';

/** Inbox kinds from here up are notices the owner's kernel applies; below are MailKinds, delivered. */
export const NOTICE_KINDS = 16;
export const NOTICE = { link: 16, unlink: 17, monitor: 18, demonitor: 19 } as const;

interface Held {
  to: string;
  from: Pid;
  kind: number;
  data: Uint8Array;
}

export class Remote {
  /** Several nodes share the store: an unknown target may be another node's. */
  readonly enabled: boolean;
  readonly #commit: Commit;
  readonly #holding = new Set<Pid>();
  #held: Held[] = [];

  constructor(commit: Commit, enabled: boolean) {
    this.#commit = commit;
    this.enabled = enabled;
  }

  /**
   * Mail for `to` (a pid or a name) that no process of this node answers to.
   * True when it is on its way to another node (or held for a process
   * moving in); false when there is no other node to try (dropped).
   */
  send(to: string, from: Pid, kind: number, data: Uint8Array): boolean {
    if (!this.enabled) return false;
    if (this.#holding.has(to)) {
      this.#held.push({ to, from, kind, data });
      return true;
    }
    this.#commit.push({ type: 'mail.remote', to, from, kind, data });
    // Seen outside this node: committed as soon as the writer is free (never held back for a lazy batch).
    this.#commit.requestFlush();
    return true;
  }

  /** Is `pid` moving in (see hold)? */
  holding(pid: Pid): boolean {
    return this.#holding.has(pid);
  }

  /** `pids` are moving in: hold what is sent to them until release(). */
  hold(pids: Iterable<Pid>): void {
    for (const pid of pids) this.#holding.add(pid);
  }

  /** They are in the table now: what was held for them, in the order it was sent. */
  release(pids: Iterable<Pid>): Held[] {
    for (const pid of pids) this.#holding.delete(pid);
    const out: Held[] = [];
    const keep: Held[] = [];
    for (const h of this.#held) (this.#holding.has(h.to) ? keep : out).push(h);
    this.#held = keep;
    return out;
  }
}
