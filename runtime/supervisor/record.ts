// The journaled form of a supervisor: what the state machine (supervisor.ts)
// writes with every change and reads back at recovery, and what the tree's
// offline view (view.ts) reads when no node runs.

import { BeamlineError, ErrorCodes } from '../errors.js';
import { decodeStored } from '../journal/codec.js';
import type { ChildSpec, SupervisorSpec } from '../config/tree.js';
import type { Pid } from '../protocol.js';

export type ChildState = 'running' | 'terminating' | 'stopped' | 'restarting';

export type SupStatus = 'running' | 'stopping' | 'dead';

/** The journaled form of one supervisor. */
export interface SupRecord {
  v: 1;
  spec: SupervisorSpec;
  parent: Pid | null;
  idInParent: string | null;
  children: Array<{ id: string; pid: Pid | null; spec: ChildSpec; state: ChildState }>;
  restarts: number[];
  status: SupStatus;
  dynamic: number;
  /** An interrupted restart: child ids with the run each had when it was planned. */
  pending: Array<[string, number]> | null;
}

/**
 * A supervisor's journaled record, or BL_JOURNAL_CORRUPT naming it: a damaged
 * record must stop the boot with one line, not surface later as a TypeError
 * deep in a rebuild.
 */
export function supRecord(row: { pid: Pid; data: Uint8Array }): SupRecord {
  const place = { what: 'supervisor record', pid: row.pid };
  const rec = decodeStored<SupRecord>(row.data, place);
  const ok =
    typeof rec === 'object' &&
    rec !== null &&
    typeof rec.spec === 'object' &&
    rec.spec !== null &&
    Array.isArray(rec.children) &&
    Array.isArray(rec.restarts) &&
    typeof rec.status === 'string' &&
    (rec.parent === null || typeof rec.parent === 'string');
  if (!ok) {
    throw new BeamlineError(ErrorCodes.JOURNAL_CORRUPT, `supervisor record of process ${row.pid} is damaged: it does not hold a supervisor's state; the tree cannot be rebuilt from it`, {
      pid: row.pid,
    });
  }
  return rec;
}
