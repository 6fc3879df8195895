// The default eviction policy: which parked process may leave its thread's
// memory now (it comes back by replay on its next wake). A pure function of
// the kernel's record; the kernel asks it at each quiet report and at each
// sweep (housekeeping.ts), and Node passes it in with the node's options.

import type { Pid } from '../protocol.js';
import { queryHandlersOf, timersOnlyDueAt, type KProc } from './table.js';

/** Rows a run may have and still hibernate: a server's run right after its snapshot has one or two. */
export const HIBERNATE_MAX_ROUNDS = 4;

/**
 * The default eviction policy: parked long enough, and cheap enough to replay;
 * a run of a few rows (a server right after its snapshot) sooner: it hibernates.
 * One parked on timers alone, all due later than `idleMs` from now, goes as it
 * parks: the first rule would take it before any of them fires, and the wake
 * would replay all the same, so keeping it meanwhile only holds its thread's
 * memory (a parked frame is ~1.7 KB there; see README, Timers at scale). Not
 * one that has had mail or answers queries: each message or query would then
 * rebuild it, where the first rule keeps it warm while it is being used. A
 * record read back from the journal counts as having had mail (its mailbox
 * may hold anything; see fromJournal), so a boot's rebuilds are kept.
 */
export function evictionPolicy(
  idleMs: number,
  maxRounds: number,
  hibernateMs = Infinity,
  rowsOf?: (pid: Pid, run: number) => number | undefined,
): (proc: KProc, now: number) => boolean {
  // proc.rounds counts the rows this node wrote; a run recovered from the
  // journal may hold many more. Before a process hibernates (which it may do
  // soon, and often), its run's rows are counted once in the journal.
  const counted = new WeakMap<KProc, { run: number; rows: number; rounds: number }>();
  return (proc, now) => {
    const idle = now - proc.lastActive;
    if (proc.rounds <= maxRounds && (idle >= idleMs || onFarTimersOnly(proc, now, idleMs))) return true;
    if (idle < hibernateMs || proc.rounds > HIBERNATE_MAX_ROUNDS) return false;
    if (rowsOf === undefined) return true;
    let c = counted.get(proc);
    if (c === undefined || c.run !== proc.run) {
      c = { run: proc.run, rows: rowsOf(proc.pid, proc.run) ?? proc.rounds, rounds: proc.rounds };
      counted.set(proc, c);
    }
    return c.rows + (proc.rounds - c.rounds) <= HIBERNATE_MAX_ROUNDS;
  };
}

/** Waits on timers alone, the earliest due `ms` from `now` or later, with no mail taken and no query handler. */
function onFarTimersOnly(proc: KProc, now: number, ms: number): boolean {
  if (proc.mailbox !== 'none' || queryHandlersOf(proc).length > 0) return false;
  const at = timersOnlyDueAt(proc);
  return at !== null && at - now >= ms;
}
