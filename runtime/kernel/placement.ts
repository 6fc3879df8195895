// Thread placement: a pure policy, replaceable.
//
// A child goes to its parent's thread, so the two exchange messages without
// a thread hop (a MessagePort round trip costs ~60 µs here; a co-located
// delivery costs about one). When the parent's thread is already carrying
// clearly more than the lightest one, the child goes to the lightest
// instead: a fan-out of thousands of children spreads over every core.

/** Extra load a parent's thread may carry before its children go elsewhere. */
export const COLOCATE_SLACK = 8;

/**
 * @param loads  per slot: processes resident or queued there
 * @param near   the slot of the process this one should sit next to (parent), or -1
 */
export function place(loads: readonly number[], near: number): number {
  let lightest = 0;
  for (let i = 1; i < loads.length; i++) if (loads[i]! < loads[lightest]!) lightest = i;
  if (near >= 0 && near < loads.length && loads[near]! <= loads[lightest]! + COLOCATE_SLACK) return near;
  return lightest;
}
