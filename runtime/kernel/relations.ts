// Links, monitors, names, and the kernel's own mailbox entries (exit
// signals, 'down' messages). Each change is journaled; names are also sent
// to every thread's replica with its next slice.

import { BeamlineError, ErrorCodes, toErrorData } from '../errors.js';
import { decode, encode } from '../journal/codec.js';
import type { Store } from '../journal/store.js';
import { looksLikePid } from '../pid.js';
import { MAIL_MESSAGE, MAIL_SIGNAL, type Pid } from '../protocol.js';
import { NOTICE, type Remote } from './remote.js';
import type { Commit } from './commit.js';
import type { Scheduler } from './scheduler.js';
import { relationsOf, type KProc, type ProcessTable } from './table.js';

export interface RelationsOptions {
  table: ProcessTable;
  commit: Commit;
  scheduler: Scheduler;
  /** End a process at once (an untrappable kill of a process in no thread's memory). */
  killNow: (proc: KProc) => void;
  /** Processes of other nodes (several nodes): mail and notices go through here. */
  remote: Remote;
  /** Several nodes: is this pid (or name) a live process on some node, or (`elsewhere`) on another node? (a read of the store) */
  isLiveElsewhere: (pid: Pid, elsewhere?: boolean) => boolean;
}

const EMPTY = new Uint8Array(0);

export class Relations {
  readonly #table: ProcessTable;
  readonly #commit: Commit;
  readonly #scheduler: Scheduler;
  readonly #killNow: (proc: KProc) => void;
  readonly #remote: Remote;
  readonly #isLiveElsewhere: (pid: Pid, elsewhere?: boolean) => boolean;

  constructor(opts: RelationsOptions) {
    this.#remote = opts.remote;
    this.#isLiveElsewhere = opts.isLiveElsewhere;
    this.#table = opts.table;
    this.#commit = opts.commit;
    this.#scheduler = opts.scheduler;
    this.#killNow = opts.killNow;
  }

  /** Rebuild names, links and monitors of the recovered processes (of those in `only`, when given: adopted ones). */
  recover(store: Store, only: ReadonlySet<Pid> | null = null): void {
    const table = this.#table;
    const concerns = (...pids: Pid[]) => only === null || pids.some((p) => only.has(p));
    for (const [name, pid] of store.names()) {
      if (!concerns(pid)) continue;
      // A server that stays out across the boot keeps its name without being read back.
      if (table.isPagedOut(pid)) {
        table.nameOut(pid, name);
        continue;
      }
      const proc = table.get(pid);
      if (proc === undefined) continue;
      table.names.set(name, pid);
      relationsOf(proc).names.add(name);
    }
    for (const [a, b] of store.links()) {
      if (!concerns(a, b)) continue;
      const pa = table.get(a);
      const pb = table.get(b);
      if (pa !== undefined) relationsOf(pa).links.add(b);
      if (pb !== undefined) relationsOf(pb).links.add(a);
    }
    for (const m of store.monitors()) {
      if (!concerns(m.watcher, m.target)) continue;
      const target = table.get(m.target);
      const watcher = table.get(m.watcher);
      if (target !== undefined) relationsOf(target).watchers.set(m.ref, m.watcher);
      if (watcher !== undefined) relationsOf(watcher).watching.set(m.ref, m.target);
    }
    for (const slot of this.#scheduler.slots) slot.names = [...table.names.entries()];
  }

  link(proc: KProc, otherPid: Pid): void {
    const other = this.#table.get(otherPid);
    if (other === undefined || other.state === 'dead' || other === proc || proc.rel?.links.has(otherPid)) return;
    relationsOf(proc).links.add(otherPid);
    relationsOf(other).links.add(proc.pid);
    const [a, b] = proc.pid < otherPid ? [proc.pid, otherPid] : [otherPid, proc.pid];
    this.#commit.push({ type: 'link.added', a, b });
  }

  /**
   * Link to a pid this node does not have: another node's live process
   * (recorded here, and a notice tells its node), else an exit signal
   * 'noproc' as for a dead local pid.
   */
  linkRemote(proc: KProc, pid: Pid): void {
    if (!this.#remote.enabled || !looksLikePid(pid) || !this.#isLiveElsewhere(pid)) {
      this.signal(pid, proc, 'noproc');
      return;
    }
    if (proc.rel?.links.has(pid)) return;
    relationsOf(proc).links.add(pid);
    const [a, b] = proc.pid < pid ? [proc.pid, pid] : [pid, proc.pid];
    this.#commit.push({ type: 'link.added', a, b });
    this.#remote.send(pid, proc.pid, NOTICE.link, EMPTY);
  }

  /** Monitor a pid this node does not have: another node's live process, else 'down' with 'noproc' at once. */
  monitorRemote(watcher: KProc, ref: string, pid: Pid): void {
    if (!this.#remote.enabled || !looksLikePid(pid) || !this.#isLiveElsewhere(pid)) {
      this.mail(watcher, pid, MAIL_MESSAGE, encode({ type: 'down', ref, pid, reason: 'noproc' }));
      return;
    }
    relationsOf(watcher).watching.set(ref, pid);
    this.#commit.push({ type: 'monitor.added', ref, watcher: watcher.pid, target: pid });
    this.#remote.send(pid, watcher.pid, NOTICE.monitor, encode({ ref }));
  }

  /** A notice from another node about one of this node's processes (see NOTICE): applied to its relations. */
  notice(target: KProc, from: Pid, kind: number, data: Uint8Array): void {
    switch (kind) {
      case NOTICE.link:
        if (target.state === 'dead') this.#remote.send(from, target.pid, MAIL_SIGNAL, encode({ reason: 'noproc' }));
        else relationsOf(target).links.add(from);
        return;
      case NOTICE.unlink:
        target.rel?.links.delete(from);
        return;
      case NOTICE.monitor: {
        const { ref } = decode(data) as { ref: string };
        if (target.state === 'dead') this.#remote.send(from, target.pid, MAIL_MESSAGE, encode({ type: 'down', ref, pid: target.pid, reason: 'noproc' }));
        else relationsOf(target).watchers.set(ref, from);
        return;
      }
      case NOTICE.demonitor:
        target.rel?.watchers.delete((decode(data) as { ref: string }).ref);
        return;
      default:
        throw new BeamlineError(ErrorCodes.INTERNAL, `unknown notice kind ${kind} from ${from} for ${target.pid}`);
    }
  }

  /** A notice for `pid`, which has ended: a link or monitor gets 'noproc', as for a dead pid on one node. */
  noticeTooLate(pid: Pid, from: Pid, kind: number, data: Uint8Array): void {
    if (kind === NOTICE.link) this.#remote.send(from, pid, MAIL_SIGNAL, encode({ reason: 'noproc' }));
    else if (kind === NOTICE.monitor) {
      const { ref } = decode(data) as { ref: string };
      this.#remote.send(from, pid, MAIL_MESSAGE, encode({ type: 'down', ref, pid, reason: 'noproc' }));
    }
  }

  unlink(proc: KProc, otherPid: Pid): void {
    if (proc.rel?.links.delete(otherPid) !== true) return;
    const other = this.#table.get(otherPid);
    if (other !== undefined) other.rel?.links.delete(proc.pid);
    else this.#remote.send(otherPid, proc.pid, NOTICE.unlink, EMPTY);
    const [a, b] = proc.pid < otherPid ? [proc.pid, otherPid] : [otherPid, proc.pid];
    this.#commit.push({ type: 'link.removed', a, b });
  }

  /** `watcher` monitors `target`: a 'down' message when it ends. */
  monitor(watcher: KProc, ref: string, target: KProc): void {
    relationsOf(target).watchers.set(ref, watcher.pid);
    relationsOf(watcher).watching.set(ref, target.pid);
    this.#commit.push({ type: 'monitor.added', ref, watcher: watcher.pid, target: target.pid });
  }

  demonitor(watcher: KProc, ref: string): void {
    const targetPid = watcher.rel?.watching.get(ref);
    const target = this.#table.get(targetPid ?? '');
    watcher.rel?.watching.delete(ref);
    target?.rel?.watchers.delete(ref);
    if (target === undefined && targetPid !== undefined) this.#remote.send(targetPid, watcher.pid, NOTICE.demonitor, encode({ ref }));
    this.#commit.push({ type: 'monitor.removed', ref });
  }

  /** An exit signal: stored in the target's mailbox, handled by the target's thread (which knows whether it traps). */
  signal(from: Pid, target: KProc, reason: unknown): void {
    if (target.state === 'dead') return;
    if (reason === 'kill' && target.residency !== 'resident') {
      // Untrappable and the process is in no thread's memory: end it here.
      this.#killNow(target);
      return;
    }
    this.mail(target, from, MAIL_SIGNAL, encode({ reason }));
  }

  /** A kernel-made mailbox entry: stored, then delivered. */
  mail(target: KProc, from: Pid, kind: number, data: Uint8Array): void {
    const id = this.#commit.newMailId();
    this.#commit.push({ type: 'mail.put', id, to: target.pid, from, kind, data });
    target.mailbox = 'stored';
    target.coldAfter = -1; // a cold start reads its mailbox: this entry must be committed first
    // mark() ignores a dead (held) process: the stored entry waits for its next run.
    this.#scheduler.mark(target, { m: 'mail', id, from, kind: kind as 0 | 1, data });
  }

  /** A start that would register a taken name is refused at the call (the name is not stolen, nothing starts). */
  assertNameFree(name: string, op: string): void {
    const owner = this.#table.names.get(name);
    if (owner !== undefined) throw new BeamlineError(ErrorCodes.NAME_TAKEN, `${op}: name '${name}' is already registered to ${owner}`, { name });
    // Names are cluster-wide: one held on another node is taken too.
    if (this.#remote.enabled && this.#isLiveElsewhere(name, true)) {
      throw new BeamlineError(ErrorCodes.NAME_TAKEN, `${op}: name '${name}' is already registered to a process of another node`, { name });
    }
  }

  /**
   * Several nodes: `pid`'s claim on `name` lost to another node's process
   * in the same instant (the store keeps the first). Like two threads racing
   * here (register): the later claim's process exits with BL_NAME_TAKEN.
   */
  nameLost(name: string, pid: Pid): void {
    const proc = this.#table.get(pid);
    if (this.#table.names.get(name) === pid) {
      this.#table.names.delete(name);
      this.#scheduler.broadcastName(name, null);
    }
    if (proc === undefined) return;
    proc.rel?.names.delete(name);
    const err = new BeamlineError(ErrorCodes.NAME_TAKEN, `register: name '${name}' is registered to a process of another node`, { name });
    this.signal('kernel', proc, toErrorData(err, false));
  }

  register(proc: KProc, name: string): void {
    const owner = this.#table.names.get(name);
    if (owner === proc.pid) return;
    if (owner !== undefined) {
      // Two threads raced for the name; the later claim loses, like a badarg in Erlang.
      const err = new BeamlineError(ErrorCodes.NAME_TAKEN, `register: name '${name}' is already registered to ${owner}`, { name });
      this.signal('kernel', proc, toErrorData(err, false));
      this.#scheduler.broadcastName(name, owner);
      return;
    }
    this.#table.names.set(name, proc.pid);
    relationsOf(proc).names.add(name);
    this.#commit.push({ type: 'name.registered', name, pid: proc.pid });
    this.#scheduler.broadcastName(name, proc.pid);
  }

  unregister(name: string): void {
    const owner = this.#table.get(this.#table.names.get(name) ?? '');
    owner?.rel?.names.delete(name);
    this.#table.names.delete(name);
    this.#commit.push({ type: 'name.unregistered', name });
    this.#scheduler.broadcastName(name, null);
  }

  /** The process ended: its names go, linked processes get an exit signal, watchers a 'down' message. */
  exited(proc: KProc, reason: unknown): void {
    const r = proc.rel;
    if (r === null) return;
    for (const name of [...r.names]) this.unregister(name);
    for (const other of [...r.links]) {
      const target = this.#table.get(other);
      if (target === undefined) {
        // Another node's process: the link goes with the exit signal (no separate notice).
        r.links.delete(other);
        const [a, b] = proc.pid < other ? [proc.pid, other] : [other, proc.pid];
        this.#commit.push({ type: 'link.removed', a, b });
        this.#remote.send(other, proc.pid, MAIL_SIGNAL, encode({ reason }));
        continue;
      }
      this.unlink(proc, other);
      this.signal(proc.pid, target, reason);
    }
    for (const [ref, watcher] of r.watchers) {
      const w = this.#table.get(watcher);
      w?.rel?.watching.delete(ref);
      this.#commit.push({ type: 'monitor.removed', ref });
      const down = encode({ type: 'down', ref, pid: proc.pid, reason });
      if (w === undefined) this.#remote.send(watcher, proc.pid, MAIL_MESSAGE, down);
      else if (w.state !== 'dead') this.mail(w, proc.pid, MAIL_MESSAGE, down);
    }
    for (const [ref, target] of r.watching) {
      const t = this.#table.get(target);
      if (t !== undefined) t.rel?.watchers.delete(ref);
      else this.#remote.send(target, proc.pid, NOTICE.demonitor, encode({ ref }));
      this.#commit.push({ type: 'monitor.removed', ref });
    }
    proc.rel = null;
  }
}
