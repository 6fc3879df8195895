// The restart policy, as OTP's supervisor.erl has it: pure tables and pure
// functions, no state. The supervisor (supervisor.ts) asks these and acts.

import type { RestartType, Strategy } from '../config/tree.js';

/** An exit reason that means "asked to stop": never restarts a transient child. */
export function isShutdown(reason: unknown): boolean {
  return reason === 'shutdown' || (typeof reason === 'object' && reason !== null && 'shutdown' in reason);
}

/** Restart decisions: one clause per restart type. */
export const RESTART: Readonly<Record<RestartType, (reason: unknown) => boolean>> = Object.freeze({
  permanent: () => true,
  transient: (reason: unknown) => reason !== 'normal' && !isShutdown(reason),
  temporary: () => false,
});

/**
 * What a strategy does when child `failed` (an index into `children`, which
 * are in start order) must restart: which others to stop (in the order to
 * stop them: reverse start order) and which to start again (start order).
 */
export interface Plan<C> {
  stop: C[];
  start: C[];
}

export const STRATEGY: Readonly<Record<Strategy, <C>(children: readonly C[], failed: number) => Plan<C>>> = Object.freeze({
  one_for_one: <C>(children: readonly C[], failed: number): Plan<C> => ({ stop: [], start: [children[failed]!] }),
  simple_one_for_one: <C>(children: readonly C[], failed: number): Plan<C> => ({ stop: [], start: [children[failed]!] }),
  one_for_all: <C>(children: readonly C[], failed: number): Plan<C> => ({
    stop: children.filter((_, i) => i !== failed).reverse(),
    start: [...children],
  }),
  rest_for_one: <C>(children: readonly C[], failed: number): Plan<C> => ({
    stop: children.slice(failed + 1).reverse(),
    start: children.slice(failed),
  }),
});

/**
 * Intensity bookkeeping: keep the restart times inside the period, add this
 * one, and say whether there are now too many (more than `intensity`).
 */
export function addRestart(times: readonly number[], now: number, periodMs: number, intensity: number): { times: number[]; exceeded: boolean } {
  const kept = times.filter((t) => now - t < periodMs);
  kept.push(now);
  return { times: kept, exceeded: kept.length > intensity };
}
