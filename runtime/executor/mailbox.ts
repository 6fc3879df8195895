// A process's mailbox: arrival order, with O(1) removal at the head (the
// common case: the oldest message matches). Entries are marked taken and
// skipped; the array is compacted once most of it is dead, so a mailbox that
// streams millions of messages never holds more than twice what it contains.

import type { Pid } from '../protocol.js';

export interface MailEntry {
  id: number;
  from: Pid;
  kind: number;
  data: Uint8Array;
  /** Arrival number on this process (arrival order; ids are not). */
  arr: number;
  /** Already in the journal's mailbox table. */
  stored: boolean;
  /** Consumed (received or handled); no longer in the mailbox. */
  taken: boolean;
  msg?: unknown;
  decoded: boolean;
}

export class Mailbox {
  #items: MailEntry[] = [];
  #head = 0;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(entry: MailEntry): void {
    this.#items.push(entry);
    this.#size++;
  }

  /** The first entry (in arrival order) for which `pred` holds. */
  find(pred: (entry: MailEntry) => boolean): MailEntry | undefined {
    const items = this.#items;
    for (let i = this.#head; i < items.length; i++) {
      const e = items[i]!;
      if (!e.taken && pred(e)) return e;
    }
    return undefined;
  }

  /** Entries that arrived after arrival number `after`, oldest first (a copy: taking them changes the mailbox). */
  since(after: number): MailEntry[] {
    const out: MailEntry[] = [];
    const items = this.#items;
    for (let i = this.#head; i < items.length; i++) {
      const e = items[i]!;
      if (!e.taken && e.arr > after) out.push(e);
    }
    return out;
  }

  /** Mark `entry` consumed. */
  remove(entry: MailEntry): void {
    if (entry.taken) return;
    entry.taken = true;
    this.#size--;
    const items = this.#items;
    while (this.#head < items.length && items[this.#head]!.taken) this.#head++;
    if (this.#head === items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 64 && this.#head * 2 > items.length) {
      this.#items = items.slice(this.#head);
      this.#head = 0;
    }
  }
}
