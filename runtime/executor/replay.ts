// The replay cursor: walks a process's recorded rounds while its script runs
// again. One cursor for every native — natives never look at the journal
// themselves; the executor asks the cursor for "the command at this step"
// and "the resolutions of the next round".
//
// A history is a list of rounds. Round 0 has no resolutions (the script's
// first synchronous run); every later round starts with the resolutions that
// were delivered, in order, and lists the commands the script issued until it
// was quiet again. Replay is exact when the script is deterministic: the same
// resolutions in the same grouping produce the same commands, whatever order
// the effects completed in originally (Promise.all included).

import { NonDeterminismError } from '../errors.js';
import type { CommandTuple, Pid, RoundRecord } from '../protocol.js';

export class ReplayCursor {
  readonly #pid: Pid;
  readonly #rounds: RoundRecord[];
  /** Journal names of markers (patched): commands that take no step and may be absent or skipped. */
  readonly #markers: ReadonlySet<string>;
  #round = 0;
  #command = 0;
  /** Markers of the current round already taken by a marker call (indexes into its commands). */
  #taken: Set<number> | null = null;

  constructor(pid: Pid, rounds: RoundRecord[], markers: ReadonlySet<string> = NO_MARKERS) {
    this.#pid = pid;
    this.#rounds = rounds;
    this.#markers = markers;
  }

  /** True when every recorded round has been replayed. */
  get done(): boolean {
    return this.#round >= this.#rounds.length;
  }

  /** The current round is the last one and records the process's exit. */
  get atExit(): boolean {
    return this.#round === this.#rounds.length - 1 && this.#rounds[this.#round]!.x !== undefined;
  }

  /** Resolutions that open the current round. */
  resolutions(): RoundRecord['r'] {
    return this.#rounds[this.#round]?.r ?? [];
  }

  /** The recorded command for the script's next native call; throws when it differs. */
  command(step: number, native: string, key: string | null): CommandTuple {
    this.#skipMarkers();
    const round = this.#rounds[this.#round];
    const recorded = round?.c[this.#command];
    if (recorded === undefined) {
      throw this.#diverged(step, round === undefined ? 'the end of its history' : 'a wait (no further command in this round)', describe(native, key));
    }
    const [rStep, rNative, rKey] = recorded;
    if (rStep !== step || rNative !== native || (rKey ?? null) !== (key ?? null)) {
      throw this.#diverged(step, describe(rNative, rKey, rStep), describe(native, key));
    }
    this.#command++;
    return recorded;
  }

  /**
   * A marker call (patched): the marker recorded at this point — among the
   * markers that come next in this round, at this step — or undefined when
   * the history has none here (it was recorded before the script made the call).
   */
  marker(step: number, native: string, key: string): CommandTuple | undefined {
    const round = this.#rounds[this.#round];
    if (round === undefined) return undefined;
    for (let i = this.#command; i < round.c.length; i++) {
      const rec = round.c[i]!;
      if (!this.#markers.has(rec[1]) || rec[0] !== step) return undefined;
      if (this.#taken?.has(i) === true || rec[1] !== native || rec[2] !== key) continue;
      (this.#taken ??= new Set()).add(i);
      return rec;
    }
    return undefined;
  }

  /** The script went quiet: the round must have issued every recorded command. */
  finishRound(step: number): void {
    this.#skipMarkers();
    const round = this.#rounds[this.#round];
    if (round !== undefined && this.#command < round.c.length) {
      const [rStep, rNative, rKey] = round.c[this.#command]!;
      throw this.#diverged(rStep, describe(rNative, rKey, rStep), `a wait at step ${step} (no command)`);
    }
    this.#round++;
    this.#command = 0;
    this.#taken = null;
  }

  /** The script finished (returned, threw or exited) while history goes on. */
  finishedEarly(step: number, how: string): NonDeterminismError {
    this.#skipMarkers();
    const round = this.#rounds[this.#round];
    const next = round?.c[this.#command];
    const expected = next !== undefined ? describe(next[1], next[2], next[0]) : 'more rounds of history';
    return this.#diverged(step, expected, how);
  }

  /**
   * The script finished in the round that records the exit, with nothing of
   * the round left over: the history ends here. Null when that is consistent
   * with how the history ended; a divergence when the history ended normally
   * and the script did not (or the other way round).
   */
  finishedAtExit(step: number, how: 'normal' | string): NonDeterminismError | null {
    this.#skipMarkers();
    const round = this.#rounds[this.#round]!;
    if (this.#command < round.c.length) return this.finishedEarly(step, how === 'normal' ? 'a return' : how);
    const recorded = round.x;
    if ((recorded === 'normal') === (how === 'normal')) return null;
    return this.#diverged(step, `the exit recorded in its history (${describeExit(recorded)})`, how === 'normal' ? 'a normal end' : how);
  }

  /** Step past markers the script did not ask for (a patch whose call was removed). */
  #skipMarkers(): void {
    const round = this.#rounds[this.#round];
    if (round === undefined || this.#markers.size === 0) return;
    while (this.#command < round.c.length && this.#markers.has(round.c[this.#command]![1])) this.#command++;
  }

  #diverged(step: number, expected: string, actual: string): NonDeterminismError {
    return new NonDeterminismError(
      `process ${this.#pid} diverged from its journal at step ${step}: expected ${expected}, got ${actual} (the script changed or is not deterministic)`,
      { pid: this.#pid, step, expected, actual },
    );
  }
}

const NO_MARKERS: ReadonlySet<string> = new Set();

function describeExit(x: unknown): string {
  if (typeof x === 'object' && x !== null && 'error' in x && 'message' in x) return `${String((x as { error: unknown }).error)}: ${String((x as { message: unknown }).message)}`;
  try {
    return JSON.stringify(x) ?? String(x);
  } catch {
    return String(x);
  }
}

function describe(native: string, key: string | null | undefined, step?: number): string {
  const k = key === null || key === undefined ? '' : `(${JSON.stringify(key)})`;
  return `${native}${k}${step === undefined ? '' : ` at step ${step}`}`;
}
