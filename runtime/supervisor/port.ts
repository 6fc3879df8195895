// What a supervisor may ask of the kernel, and what the kernel tells it: the
// whole surface between the two. The supervisor is a client of the runtime,
// the way a gen_server is: it starts, restarts, signals and lets go of its
// children, persists its own state, and reads the journal once at boot. The
// kernel implements KernelPort; the supervision implements SupervisionHooks.

import type { Pid } from '../protocol.js';

/** A supervised process ended. `ref` is `<supervisor pid>/<child id>`. */
export interface ChildExit {
  pid: Pid;
  ref: string;
  reason: unknown;
}

/** 'hold': keep the dead process (pid, mailbox) for a restart the supervisor will make; 'release': let it go. */
export type ExitDecision = 'hold' | 'release';

export interface KernelPort {
  /** A fresh pid from the node's sequence (a supervisor's own pid). */
  newPid(): Pid;
  /** Start a worker child; throws (BL_NAME_TAKEN…) when it cannot start. */
  startChild(script: string, args: Uint8Array, opts: { ref: string; name: string | null; parent: Pid }): Pid;
  /** Start the next run of a held child (same pid, same mailbox); throws when it cannot. */
  restartChild(pid: Pid, name: string | null): void;
  /** Send an exit signal; false when no live process has that pid. */
  signal(pid: Pid, reason: unknown, from: Pid): boolean;
  /** Let go of a child held for a restart that will not come. */
  release(pid: Pid): void;
  /** The child's current run and whether it is live; null when the kernel no longer has it. */
  runOf(pid: Pid): { run: number; live: boolean } | null;
  /** Record the supervisor's state (null: it is gone) with the next commit. */
  persist(pid: Pid, data: Uint8Array | null): void;
  /** What the journal holds, read once at boot. */
  readonly journal: StoredTree;
}

/** The journal as the supervision reads it: its own records and its children's process rows. */
export interface StoredTree {
  supervisors(): Array<{ pid: Pid; data: Uint8Array }>;
  process(pid: Pid): { status: 'live' | 'exited'; run: number; reason: Uint8Array | null } | undefined;
  liveProcesses(): Array<{ pid: Pid; sup: string | null; args: Uint8Array }>;
}

/** What the kernel calls on the supervision. */
export interface SupervisionHooks {
  /**
   * A supervised process exited. Called in the middle of the kernel's exit
   * handling: it only decides and queues (work that waits runs later, on the
   * supervisor's own queue), and never calls back into the kernel's records.
   */
  childExited(exit: ChildExit): ExitDecision;
  /** A process asked for a dynamic child of a simple_one_for_one supervisor (by pid or name). */
  startDynamic(ref: string, args: unknown[]): Pid;
}
