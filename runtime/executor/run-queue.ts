// The thread's run queue: two FIFO lanes with O(1) shift. (Array.prototype
// .shift is O(n) on large arrays: with 100,000 processes waking at once it
// made every round cost tens of microseconds.)
//
// Work already under way (a process woken by a timer, a message, a result)
// goes ahead of work not yet begun (a process starting or being rebuilt):
// a fan-out of 100,000 spawns must not make the timers of processes spawned
// a second earlier fire late. Starts still get one round in every
// STARTS_EVERY, so a busy thread never starves them.

const STARTS_EVERY = 8;

class Lane<T> {
  #items: Array<T | undefined> = [];
  #head = 0;

  get size(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}

export class RunQueue<T> {
  readonly #woken = new Lane<T>();
  readonly #starting = new Lane<T>();
  #streak = 0;

  get size(): number {
    return this.#woken.size + this.#starting.size;
  }

  /** `starting`: the process has not run yet, or is being rebuilt by replay. */
  push(item: T, starting: boolean): void {
    (starting ? this.#starting : this.#woken).push(item);
  }

  shift(): T | undefined {
    if (this.#woken.size > 0 && (this.#streak < STARTS_EVERY || this.#starting.size === 0)) {
      this.#streak++;
      return this.#woken.shift();
    }
    this.#streak = 0;
    return this.#starting.shift() ?? this.#woken.shift();
  }
}
