// A cancellation handle for the kernel's hot paths, in place of AbortController.
//
// Every slice sent to a thread made an AbortController, and every HTTP call
// three (the effect's, the call's, each attempt's). An AbortController is an
// EventTarget: creating one, adding a listener and removing it costs about
// 7 µs here, against 0.02 µs for this class, all of it on the kernel's one
// thread, and several times that on a cold path such as a wake after idle.
//
// Piscina's run() and undici's request() both accept, besides an
// AbortSignal, an EventEmitter-style signal: `aborted`, `reason`, `on` or
// `once` to listen, `removeListener` or `off` to stop (Piscina's abort.js,
// undici's core/util.js addAbortListener). This is that, and no more: an
// abort happens at most once, so every listener is a once-listener.

type Listener = () => void;

export class Abort {
  aborted = false;
  reason: unknown = undefined;
  // Nearly always none or one (Piscina's, or undici's): no array until a second.
  #one: Listener | null = null;
  #more: Listener[] | null = null;

  /** Abort with `reason`: every listener runs once, in the order added. A second abort does nothing. */
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const one = this.#one;
    const more = this.#more;
    this.#one = null;
    this.#more = null;
    one?.();
    if (more !== null) for (const fn of more) fn();
  }

  /** Throws the reason once aborted (AbortSignal's throwIfAborted). */
  throwIfAborted(): void {
    if (this.aborted) throw this.reason;
  }

  on(_event: 'abort', fn: Listener): this {
    if (this.#one === null && this.#more === null) this.#one = fn;
    else (this.#more ??= []).push(fn);
    return this;
  }

  once(event: 'abort', fn: Listener): this {
    return this.on(event, fn);
  }

  addListener(event: 'abort', fn: Listener): this {
    return this.on(event, fn);
  }

  removeListener(_event: 'abort', fn: Listener): this {
    if (this.#one === fn) this.#one = null;
    else if (this.#more !== null) {
      const i = this.#more.indexOf(fn);
      if (i >= 0) this.#more.splice(i, 1);
    }
    return this;
  }

  off(event: 'abort', fn: Listener): this {
    return this.removeListener(event, fn);
  }
}
