// patched(id), deprecatePatch(id): changing a script while processes started
// by the old code are still alive (asleep for a week, waiting for a payment).
//
//   if (ctx.patched('send-receipt')) { new code } else { old code }
//
// patched(id) is true where the process reaches this point under code that has
// the patch, and false where its history was recorded here before the patch
// existed. The answer is recorded: a live call leaves a marker `patched(id)`
// in the journal (true); a replayed call answers from the history — the marker
// is there (true) or it is not (false: the old code ran here and left none).
// History never changes, so the same process always gets the same answer.
// A marker takes no step: adding or removing one does not renumber the
// commands after it, so the old branch of an old history replays unchanged.
//
// A patch lives in three stages:
//   1. both branches, `if (ctx.patched(id)) new else old` — deploy any time;
//   2. `ctx.deprecatePatch(id)` then the new code only — deploy once no process
//      whose history predates the patch is alive (`runtime replay` says so);
//      it keeps leaving the marker, so stage-2 histories still replay on
//      stage-1 code (a rollback), and it accepts a history with or without it;
//   3. remove the call — once stage 1 code will not run again (no rollback to
//      it): markers left in a history and no longer asked for are skipped on
//      replay; a history recorded after this leaves none, which stage 1 code
//      would read as "old branch".
//
// Precisely, deprecatePatch(id): live, records the same marker as patched(id)
// and returns undefined; on replay, takes the marker if it is there and never
// diverges on its absence. It cannot tell an old history (which took the old
// branch) from a stage-3 one (which took the new branch and left no marker):
// the commands that follow tell, and a history that took the old branch
// diverges at its first command that differs from the new code's.
// (This is Temporal's deprecatePatch.)

import { argError, defineNative } from './api.js';

const JOURNAL_NAME = 'patched';

function idOf(native: string, id: unknown): string {
  if (typeof id !== 'string' || id.length === 0 || id.length > 200) {
    throw argError(native, 'id must be a non-empty string of at most 200 characters', id, `pass ${native}('send-receipt')`);
  }
  return id;
}

export const patched = defineNative<[id: unknown], undefined, { key: string }>({
  name: 'patched',
  kind: 'sync',
  marker: { journalName: JOURNAL_NAME, absent: false },
  prepare(_host, [id]) {
    return { key: idOf('patched', id) };
  },
  start() {
    return { done: true, result: true };
  },
  settle() {
    return true;
  },
});

export const deprecatePatch = defineNative<[id: unknown], undefined, { key: string }>({
  name: 'deprecatePatch',
  kind: 'sync',
  marker: { journalName: JOURNAL_NAME, absent: undefined },
  prepare(_host, [id]) {
    return { key: idOf('deprecatePatch', id) };
  },
  start() {
    return { done: true, result: true, record: 'deprecated' };
  },
  settle() {
    return undefined;
  },
});
