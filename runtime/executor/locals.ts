// What natives share across the calls of one process (named timers, the
// trap flag, query handlers, the last message for the crash record). Kept
// apart from the process's call path; every map is made on first use, since
// a parked process should cost little more than its suspended frame.

import type { ProcessLocals } from '../../natives/api.js';

/** Process-local state natives share; the maps exist only once used. */
export class Locals implements ProcessLocals {
  trapExit = false;
  lastMessage: Uint8Array | null = null;
  #timers: Map<string, number> | null = null;
  #timerAt: Map<string, number> | null = null;
  #queries: Map<string, (...args: unknown[]) => unknown> | null = null;
  get timers(): Map<string, number> {
    return (this.#timers ??= new Map());
  }
  get timerAt(): Map<string, number> {
    return (this.#timerAt ??= new Map());
  }
  get queries(): Map<string, (...args: unknown[]) => unknown> {
    return (this.#queries ??= new Map());
  }
  /**
   * Names of the onQuery handlers, for the thread's report. Reading them does
   * not make the map: the thread looks at every process it starts, and an
   * empty Map for each cost a parked process about 230 bytes.
   */
  get queryNames(): string[] {
    return this.#queries === null ? [] : [...this.#queries.keys()];
  }
  get queryCount(): number {
    return this.#queries?.size ?? 0;
  }
}
