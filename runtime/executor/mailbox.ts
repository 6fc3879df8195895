// A process's mailbox: arrival order, with O(1) amortised removal anywhere.
// A removed entry is marked taken and skipped; the head moves past taken
// entries, and once taken entries are more than half of what the array holds
// it is compacted (live entries kept in order). So one old message that never
// matches cannot keep every later, taken entry alive behind it: the array
// never holds more than twice what the mailbox contains (plus COMPACT_MIN),
// which also bounds what `find` scans. Each compaction drops at least as many
// entries as it keeps, so its cost is paid by the removals that preceded it.

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

/** Below this many taken entries the array is left alone (compacting tiny arrays is pure overhead). */
const COMPACT_MIN = 64;

export class Mailbox {
  #items: MailEntry[] = [];
  #head = 0;
  #size = 0;
  /** Taken entries at or after #head, still in #items. */
  #dead = 0;

  get size(): number {
    return this.#size;
  }

  /** Entries held in memory, taken ones not yet dropped included: what `find` may scan. */
  get retained(): number {
    return this.#items.length - this.#head;
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
    this.#dead++;
    const items = this.#items;
    while (this.#head < items.length && items[this.#head]!.taken) {
      this.#head++;
      this.#dead--;
    }
    if (this.#head === items.length) {
      this.#items = [];
      this.#head = 0;
      this.#dead = 0;
      return;
    }
    const waste = this.#head + this.#dead;
    if (waste > COMPACT_MIN && waste * 2 > items.length) {
      const kept: MailEntry[] = [];
      for (let i = this.#head; i < items.length; i++) {
        const e = items[i]!;
        if (!e.taken) kept.push(e);
      }
      this.#items = kept;
      this.#head = 0;
      this.#dead = 0;
    }
  }
}
