// A map for the handful of entries a process usually has: the first entry
// lives in two fields and a Map is made only for a second. Nearly every
// parked process waits on exactly one step (a timer, a call, a receive), in
// the kernel's record and in its thread; a Map with one entry costs about
// 230 bytes of heap, this about 50, and a node may hold a million of them.
// Iteration tolerates deleting the entry being visited, as Map's does.

export class SmallMap<K, V> implements Iterable<[K, V]> {
  #key: K | undefined = undefined;
  #value: V | undefined = undefined;
  #one = false;
  /** Once a second entry came: every entry, the first moved in. */
  #map: Map<K, V> | null = null;

  get size(): number {
    return this.#map !== null ? this.#map.size : this.#one ? 1 : 0;
  }

  get(key: K): V | undefined {
    if (this.#map !== null) return this.#map.get(key);
    return this.#one && this.#key === key ? this.#value : undefined;
  }

  has(key: K): boolean {
    if (this.#map !== null) return this.#map.has(key);
    return this.#one && this.#key === key;
  }

  set(key: K, value: V): this {
    if (this.#map !== null) {
      this.#map.set(key, value);
    } else if (!this.#one || this.#key === key) {
      this.#key = key;
      this.#value = value;
      this.#one = true;
    } else {
      this.#map = new Map([[this.#key as K, this.#value as V]]);
      this.#map.set(key, value);
      this.#key = undefined;
      this.#value = undefined;
      this.#one = false;
    }
    return this;
  }

  delete(key: K): boolean {
    if (this.#map !== null) return this.#map.delete(key);
    if (!this.#one || this.#key !== key) return false;
    this.#key = undefined;
    this.#value = undefined;
    this.#one = false;
    return true;
  }

  clear(): void {
    this.#map = null;
    this.#key = undefined;
    this.#value = undefined;
    this.#one = false;
  }

  *values(): IterableIterator<V> {
    if (this.#map !== null) {
      yield* this.#map.values();
    } else if (this.#one) {
      yield this.#value as V;
    }
  }

  *[Symbol.iterator](): IterableIterator<[K, V]> {
    if (this.#map !== null) {
      yield* this.#map;
    } else if (this.#one) {
      yield [this.#key as K, this.#value as V];
    }
  }
}
