// The pending batch: journal events waiting for the next group commit.
//
// Much of what happens between two commits undoes itself: a message put in a
// mailbox and received before the commit, a spawn result delivered and
// consumed, a child that starts and exits. Writing both halves costs two
// statements for no durable difference, so the batch cancels them as they
// arrive (an event and its undoing, or an insert and its later update, become
// nothing or one row). What the commit writes is exactly the end state.

import type { EffectArmed, JournalEvent, MailPut, ProcessSpawned } from './events.js';

export class Batch {
  #events: Array<JournalEvent | null> = [];
  /** mail id → index of its mail.put in this batch */
  #puts = new Map<number, number>();
  /** effect key → index of its effect.armed in this batch */
  #arms = new Map<string, number>();
  /** pid → index of its process.spawned in this batch */
  #spawns = new Map<string, number>();
  #live = 0;

  get size(): number {
    return this.#live;
  }

  push(ev: JournalEvent): void {
    switch (ev.type) {
      case 'mail.put':
        this.#puts.set(ev.id, this.#events.length);
        break;
      case 'mail.taken': {
        const i = this.#puts.get(ev.id);
        if (i !== undefined) {
          this.#puts.delete(ev.id);
          this.#cancel(i);
          return;
        }
        break;
      }
      case 'mail.rewritten': {
        const i = this.#puts.get(ev.id);
        if (i !== undefined) {
          const put = this.#events[i] as MailPut;
          this.#events[i] = { ...put, kind: ev.kind, data: ev.data };
          return;
        }
        break;
      }
      case 'effect.armed':
        this.#arms.set(effectKey(ev.pid, ev.run, ev.step), this.#events.length);
        break;
      case 'effect.done': {
        const i = this.#arms.get(effectKey(ev.pid, ev.run, ev.step));
        if (i !== undefined) {
          const armed = this.#events[i] as EffectArmed;
          this.#events[i] = { ...armed, done: { ok: ev.ok, value: ev.value } };
          return;
        }
        break;
      }
      case 'effect.cleared': {
        if (ev.step === null) break;
        const key = effectKey(ev.pid, ev.run, ev.step);
        const i = this.#arms.get(key);
        if (i !== undefined) {
          this.#arms.delete(key);
          this.#cancel(i);
          return;
        }
        break;
      }
      case 'process.spawned':
        this.#spawns.set(ev.pid, this.#events.length);
        break;
      case 'process.exited': {
        const i = this.#spawns.get(ev.pid);
        const spawned = i === undefined ? undefined : (this.#events[i] as ProcessSpawned);
        if (spawned !== undefined && spawned.run === ev.run) {
          this.#events[i!] = { ...spawned, exit: { at: ev.at, reason: ev.reason, result: ev.result, lastMessage: ev.lastMessage } };
          return;
        }
        break;
      }
      default:
        break;
    }
    this.#events.push(ev);
    this.#live++;
  }

  /** Take the batch for commit, in order, cancelled events removed. */
  drain(): JournalEvent[] {
    const out: JournalEvent[] = [];
    for (const ev of this.#events) if (ev !== null) out.push(ev);
    this.#events = [];
    this.#puts.clear();
    this.#arms.clear();
    this.#spawns.clear();
    this.#live = 0;
    return out;
  }

  #cancel(index: number): void {
    this.#events[index] = null;
    this.#live--;
  }
}

function effectKey(pid: string, run: number, step: number): string {
  return `${pid}\u0000${run}\u0000${step}`;
}
