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
  #round = 0;
  #command = 0;

  constructor(pid: Pid, rounds: RoundRecord[]) {
    this.#pid = pid;
    this.#rounds = rounds;
  }

  /** True when every recorded round has been replayed. */
  get done(): boolean {
    return this.#round >= this.#rounds.length;
  }

  /** Resolutions that open the current round. */
  resolutions(): RoundRecord['r'] {
    return this.#rounds[this.#round]?.r ?? [];
  }

  /** The recorded command for the script's next native call; throws when it differs. */
  command(step: number, native: string, key: string | null): CommandTuple {
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

  /** The script went quiet: the round must have issued every recorded command. */
  finishRound(step: number): void {
    const round = this.#rounds[this.#round];
    if (round !== undefined && this.#command < round.c.length) {
      const [rStep, rNative, rKey] = round.c[this.#command]!;
      throw this.#diverged(rStep, describe(rNative, rKey, rStep), `a wait at step ${step} (no command)`);
    }
    this.#round++;
    this.#command = 0;
  }

  /** The script finished (returned, threw or exited) while history goes on. */
  finishedEarly(step: number, how: string): NonDeterminismError {
    const round = this.#rounds[this.#round];
    const next = round?.c[this.#command];
    const expected = next !== undefined ? describe(next[1], next[2], next[0]) : 'more rounds of history';
    return this.#diverged(step, expected, how);
  }

  #diverged(step: number, expected: string, actual: string): NonDeterminismError {
    return new NonDeterminismError(
      `process ${this.#pid} diverged from its journal at step ${step}: expected ${expected}, got ${actual} (the script changed or is not deterministic)`,
      { pid: this.#pid, step, expected, actual },
    );
  }
}

function describe(native: string, key: string | null | undefined, step?: number): string {
  const k = key === null || key === undefined ? '' : `(${JSON.stringify(key)})`;
  return `${native}${k}${step === undefined ? '' : ` at step ${step}`}`;
}
