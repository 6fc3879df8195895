// The kernel's timer service: every durable timer of every process in one
// binary heap, behind a single Node timer set for the earliest deadline.
// 100,000 sleeping processes cost 100,000 small heap entries and one
// setTimeout — not 100,000 timers. Cancelled entries are dropped lazily
// when they reach the top.

export interface TimerEntry<T> {
  at: number;
  value: T;
  cancelled: boolean;
}

// setTimeout's longest delay; a longer timer re-arms when this one fires.
const MAX_DELAY = 2 ** 31 - 1;

export class TimerService<T> {
  readonly #heap: Array<TimerEntry<T>> = [];
  readonly #fire: (due: T[]) => void;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | null = null;
  #armedFor = Infinity;
  #live = 0;

  constructor(fire: (due: T[]) => void, now: () => number = Date.now) {
    this.#fire = fire;
    this.#now = now;
  }

  /** Timers armed and not cancelled. */
  get size(): number {
    return this.#live;
  }

  /** When the earliest timer is due (Infinity: none; a cancelled one may still hold the top). */
  get nextAt(): number {
    return this.#heap.length > 0 ? this.#heap[0]!.at : Infinity;
  }

  arm(at: number, value: T): TimerEntry<T> {
    const entry: TimerEntry<T> = { at, value, cancelled: false };
    this.#push(entry);
    this.#live++;
    if (at < this.#armedFor) this.#schedule();
    return entry;
  }

  cancel(entry: TimerEntry<T>): void {
    if (entry.cancelled) return;
    entry.cancelled = true;
    this.#live--;
  }

  /** Stop the underlying Node timer (node shutdown); entries stay for inspection. */
  stop(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#armedFor = Infinity;
  }

  #schedule(): void {
    while (this.#heap.length > 0 && this.#heap[0]!.cancelled) this.#pop();
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#armedFor = Infinity;
    const top = this.#heap[0];
    if (top === undefined) return;
    this.#armedFor = top.at;
    const delay = Math.min(MAX_DELAY, Math.max(0, top.at - this.#now()));
    this.#timer = setTimeout(() => this.#run(), delay);
  }

  #run(): void {
    this.#timer = null;
    this.#armedFor = Infinity;
    const now = this.#now();
    const due: T[] = [];
    while (this.#heap.length > 0 && this.#heap[0]!.at <= now) {
      const entry = this.#pop();
      if (entry.cancelled) continue;
      entry.cancelled = true;
      this.#live--;
      due.push(entry.value);
    }
    this.#schedule();
    if (due.length > 0) this.#fire(due);
  }

  #push(entry: TimerEntry<T>): void {
    const h = this.#heap;
    h.push(entry);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.at <= entry.at) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = entry;
  }

  #pop(): TimerEntry<T> {
    const h = this.#heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && h[r]!.at < h[l]!.at ? r : l;
        if (h[c]!.at >= last.at) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}
