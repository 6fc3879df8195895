// `runtime kill` with no node running: record the exit in the journal.
//
// A process stays live in the journal until its exit is recorded, and every
// boot resumes every live process — so a process nobody wants any more (an
// abandoned `runtime spawn` root, a script that hangs) could otherwise only
// be removed by starting a node, which runs it again first. Offline, nothing
// runs the process: its exit is written here the way the kernel writes one
// (a final round, the exit, its effects cleared, names, links and monitors
// taken down) and what the kernel would have told others is left in their
// mailboxes — an exit signal to each linked process, a 'down' message to each
// monitor — for their next boot. A supervised child keeps its mailbox: its
// supervisor sees a child that died while the node was down and applies its
// strategy at the next boot.
//
// Offline, no thread holds the process, so it cannot trap the signal: it ends
// with the reason given ('kill' → 'killed'), as an untrappable kill would.

import { BeamlineError, ErrorCodes } from '../errors.js';
import { decode, encode } from '../journal/codec.js';
import type { JournalEvent } from '../journal/events.js';
import { openJournal } from '../journal/sqlite.js';
import { ID_STRIDE, KERNEL_ID_SLOT, MAIL_MESSAGE, MAIL_SIGNAL, type Pid } from '../protocol.js';

export interface OfflineKill {
  pid: Pid;
  run: number;
  reason: unknown;
}

/** Record `target`'s exit (pid or registered name) in the journal at `db`; takes the journal's lock meanwhile. */
export function killOffline(db: string, target: string, signal: unknown): OfflineKill {
  const store = openJournal(db);
  try {
    const names = store.names();
    const pid = names.find(([name]) => name === target)?.[1] ?? target;
    if (store.supervisors().some((s) => s.pid === pid)) {
      throw new BeamlineError(ErrorCodes.ARG_INVALID, `kill: ${pid} is a supervisor; with no node running only processes can be killed (stop a tree with SIGTERM to its node)`, { pid });
    }
    const proc = store.process(pid);
    if (proc === undefined || proc.status !== 'live') {
      throw new BeamlineError(ErrorCodes.NOPROC, `kill: no live process ${target} in ${store.path}`, { pid: target });
    }
    const reason = signal === 'kill' ? 'killed' : signal;
    const at = Date.now();
    const events: JournalEvent[] = [
      { type: 'process.round', pid, run: proc.run, at, row: encode({ r: [], c: [], x: reason }) },
      { type: 'process.exited', pid, run: proc.run, at, reason: encode(reason), result: null, lastMessage: null },
      { type: 'effect.cleared', pid, run: proc.run, step: null },
    ];
    for (const [name, owner] of names) if (owner === pid) events.push({ type: 'name.unregistered', name });

    // Messages from "the kernel" take ids from its id space, after the last one it used.
    const saved = store.meta('mail_ids');
    const counters: Array<[number, number]> = saved === undefined ? [] : (JSON.parse(saved) as Array<[number, number]>);
    let nextId = store.mailIdCounters(ID_STRIDE).get(KERNEL_ID_SLOT) ?? KERNEL_ID_SLOT;
    const live = (p: Pid) => store.process(p)?.status === 'live';
    const put = (to: Pid, kind: number, data: Uint8Array) => {
      events.push({ type: 'mail.put', id: nextId, to, from: pid, kind, data });
      nextId += ID_STRIDE;
    };
    for (const [a, b] of store.links()) {
      if (a !== pid && b !== pid) continue;
      events.push({ type: 'link.removed', a, b });
      const other = a === pid ? b : a;
      if (live(other)) put(other, MAIL_SIGNAL, encode({ reason }));
    }
    for (const m of store.monitors()) {
      if (m.target === pid) {
        events.push({ type: 'monitor.removed', ref: m.ref });
        if (live(m.watcher)) put(m.watcher, MAIL_MESSAGE, encode({ type: 'down', ref: m.ref, pid, reason }));
      } else if (m.watcher === pid) {
        events.push({ type: 'monitor.removed', ref: m.ref });
      }
    }
    if (proc.sup === null) events.push({ type: 'mail.dropped', pid });
    const ids = counters.filter(([slot]) => slot !== KERNEL_ID_SLOT);
    ids.push([KERNEL_ID_SLOT, nextId]);
    events.push({ type: 'meta.set', key: 'mail_ids', value: JSON.stringify(ids) });
    store.append(events);
    return { pid, run: proc.run, reason: decode(encode(reason)) };
  } finally {
    store.close();
  }
}
