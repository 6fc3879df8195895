// Supervision trees, read top to bottom like OTP's supervisor.erl: state,
// the tree API, child exits, restarts, shutdown, persistence, recovery.
//
// Supervisors live in the kernel's thread (they are policy, not user code)
// and talk to the kernel only through its port (port.ts): they take pids
// from the node's sequence, start, restart, signal and release children, and
// persist their own state. A supervisor's children are processes (or nested
// supervisors) tagged `<supervisor pid>/<child id>`; the kernel tells us of
// every such exit (childExited), synchronously, and we answer whether to hold
// the dead process for a restart ('hold': same pid, same mailbox, next run)
// or to let it go ('release').
//
// Work that has to wait (stopping children one by one, each within its
// shutdown grace) runs as operations queued on the supervisor, one at a time,
// so an exit or a shutdown that arrives meanwhile is handled in order — never
// by spinning. The whole state (spec, children, restart history, the
// operation in progress) is journaled with every change, so after a crash the
// tree is rebuilt as it was and an interrupted operation is finished, not
// started over.

import { BeamlineError, ErrorCodes, toErrorData } from '../errors.js';
import { decode, encode } from '../journal/codec.js';
import type { ChildSpec, SupervisorSpec, WorkerChildSpec } from '../config/tree.js';
import type { ChildExit, ExitDecision, KernelPort, StoredTree, SupervisionHooks } from './port.js';
import type { Pid } from '../protocol.js';
import { addRestart, isShutdown, RESTART, STRATEGY } from './policy.js';
import { supRecord, type ChildState, type SupRecord, type SupStatus } from './record.js';
import type { TreeView } from './view.js';

interface Child {
  id: string;
  spec: ChildSpec;
  /** Worker pid, or the nested supervisor's pid. */
  pid: Pid | null;
  state: ChildState;
  /** While terminating: hold the process for a restart afterwards. */
  restartAfter: boolean;
  /** While terminating: resolves when it has exited. */
  stopped: (() => void) | null;
}

/** A child exit that made a supervisor act; `cause` follows a nested supervisor's escalation down to its worker. */
interface Failure {
  id: string;
  pid: Pid | null;
  reason: unknown;
  cause?: Failure | null;
}

export interface SupervisionEvents {
  /**
   * The root supervisor stopped: `escalated` when it gave up (restart
   * intensity exceeded), with the child exit that tipped it; else a clean stop.
   */
  rootExited(pid: Pid, reason: unknown, escalated: boolean, failure: Failure | null): void;
}

class Supervisor {
  readonly pid: Pid;
  readonly spec: SupervisorSpec;
  readonly parent: Supervisor | null;
  readonly idInParent: string | null;
  children: Child[] = [];
  restarts: number[] = [];
  status: SupStatus = 'running';
  dynamic = 0;
  pending: Array<[string, number]> | null = null;
  /** The exit that caused the latest restart (what an escalation reports). */
  lastFailure: Failure | null = null;
  #queue: Promise<void> = Promise.resolve();
  constructor(pid: Pid, spec: SupervisorSpec, parent: Supervisor | null, idInParent: string | null) {
    this.pid = pid;
    this.spec = spec;
    this.parent = parent;
    this.idInParent = idInParent;
  }

  /** Run `op` after every operation queued before it. */
  enqueue(op: () => Promise<void> | void): Promise<void> {
    this.#queue = this.#queue.then(op).catch((err: unknown) => {
      process.emitWarning(`beamline: supervisor ${this.pid}: ${(err as Error)?.stack ?? String(err)}`);
    });
    return this.#queue;
  }

}

export class Supervision implements SupervisionHooks {
  readonly #kernel: KernelPort;
  readonly #events: SupervisionEvents;
  readonly #sups = new Map<Pid, Supervisor>();
  /** Registered names of nested supervisors (for startChild by name). */
  readonly #names = new Map<string, Pid>();

  constructor(kernel: KernelPort, events: SupervisionEvents) {
    this.#kernel = kernel;
    this.#events = events;
  }

  // ───────────────────────────── API ─────────────────────────────

  /** Start a tree from its spec; children start in list order. */
  start(spec: SupervisorSpec): Pid {
    const sup = this.#create(spec, null, null, null);
    this.#startAll(sup);
    return sup.pid;
  }

  /** The root supervisors in the journal (live trees). */
  roots(): Pid[] {
    return [...this.#sups.values()].filter((s) => s.parent === null && s.status !== 'dead').map((s) => s.pid);
  }

  rootSpec(pid: Pid): SupervisorSpec | undefined {
    return this.#sups.get(pid)?.spec;
  }

  /** A dynamic child of a simple_one_for_one supervisor: the template's args followed by `args`. */
  startChild(ref: string, args: unknown[]): Pid {
    const sup = this.#sups.get(this.#names.get(ref) ?? ref);
    if (sup === undefined || sup.status !== 'running') {
      throw new BeamlineError(ErrorCodes.NOPROC, `startChild: no running supervisor ${ref}`, { sup: ref });
    }
    if (sup.spec.strategy !== 'simple_one_for_one') {
      throw new BeamlineError(ErrorCodes.ARG_INVALID, `startChild: supervisor ${ref} is ${sup.spec.strategy}; dynamic children need simple_one_for_one`, {
        sup: ref,
      });
    }
    const template = sup.spec.children[0] as WorkerChildSpec;
    sup.dynamic++;
    const spec: WorkerChildSpec = Object.freeze({ ...template, id: `${template.id}-${sup.dynamic}`, args: Object.freeze([...template.args, ...args]) });
    const child: Child = { id: spec.id, spec, pid: null, state: 'stopped', restartAfter: false, stopped: null };
    sup.children.push(child);
    this.#startChild(sup, child);
    this.#persist(sup);
    return child.pid!;
  }

  /** Stop every tree: children in reverse start order, each within its shutdown grace. */
  async shutdownAll(): Promise<void> {
    await Promise.all(this.roots().map((pid) => this.#shutdownOp(this.#sups.get(pid)!, 'shutdown', false)));
  }

  view(pid?: Pid): TreeView[] {
    const roots = pid === undefined ? this.roots() : [pid];
    return roots.map((p) => this.#view(this.#sups.get(p)!)).filter(Boolean);
  }

  // ───────────────────────────── child exits ─────────────────────────────

  /** A supervised process exited: hold it for a restart, or let it go. Decides and queues; never waits. */
  childExited(exit: ChildExit): ExitDecision {
    const slash = exit.ref.indexOf('/');
    const sup = this.#sups.get(exit.ref.slice(0, slash));
    const id = exit.ref.slice(slash + 1);
    const child = sup?.children.find((c) => c.id === id && c.pid === exit.pid);
    if (sup === undefined || child === undefined) return 'release';
    return this.#childExited(sup, child, exit.reason);
  }

  startDynamic(ref: string, args: unknown[]): Pid {
    return this.startChild(ref, args);
  }

  #childExited(sup: Supervisor, child: Child, reason: unknown): ExitDecision {
    if (child.state === 'terminating') {
      // We asked it to stop.
      child.state = 'stopped';
      const done = child.stopped;
      child.stopped = null;
      done?.();
      return child.restartAfter ? 'hold' : 'release';
    }
    if (sup.status !== 'running') {
      child.state = 'stopped';
      return 'release';
    }
    if (RESTART[child.spec.restart](reason)) {
      sup.lastFailure = { id: child.id, pid: child.pid, reason };
      child.state = 'restarting';
      void sup.enqueue(() => this.#restartOp(sup, child));
      this.#persist(sup);
      return 'hold';
    }
    child.state = 'stopped';
    if (child.spec.restart === 'temporary' || sup.spec.strategy === 'simple_one_for_one') {
      sup.children = sup.children.filter((c) => c !== child);
    }
    this.#persist(sup);
    if (child.spec.significant) void sup.enqueue(() => this.#autoShutdown(sup));
    return 'release';
  }

  /** A nested supervisor stopped on its own (intensity, auto_shutdown): its parent treats it as a child exit. */
  #supervisorExited(sup: Supervisor, reason: unknown, escalated: boolean): void {
    const parent = sup.parent;
    if (parent === null) {
      this.#events.rootExited(sup.pid, reason, escalated, escalated ? deepest(sup) : null);
      return;
    }
    const child = parent.children.find((c) => c.pid === sup.pid);
    if (child === undefined) return;
    this.#childExited(parent, child, reason);
    // Remember what made the nested one give up: it is gone from the table by now.
    if (escalated && parent.lastFailure?.pid === sup.pid) parent.lastFailure.cause = deepest(sup);
  }

  // ───────────────────────────── restarts ─────────────────────────────

  async #restartOp(sup: Supervisor, child: Child): Promise<void> {
    if (sup.status !== 'running' || child.state !== 'restarting') return;
    if (await this.#gaveUp(sup)) return;
    const index = sup.children.indexOf(child);
    const plan = STRATEGY[sup.spec.strategy](sup.children, index);
    const restartable = (c: Child) => c.spec.restart !== 'temporary' || c === child;
    sup.pending = plan.start.map((c) => [c.id, this.#runOf(c)]);
    this.#persist(sup);
    for (const c of plan.stop) await this.#terminate(sup, c, restartable(c));
    const start: Child[] = [];
    for (const c of plan.start) {
      if (restartable(c)) {
        start.push(c);
        continue;
      }
      sup.children = sup.children.filter((x) => x !== c);
      if (c.pid !== null) this.#kernel.release(c.pid);
    }
    this.#startPlanned(sup, start);
  }

  /** A restart that failed, tried again from the queue: it counts against intensity like any restart. */
  async #retryOp(sup: Supervisor, children: Child[]): Promise<void> {
    if (sup.status !== 'running') return;
    if (await this.#gaveUp(sup)) return;
    this.#startPlanned(sup, children.filter((c) => c.state === 'restarting'));
  }

  /** Count one restart; past the intensity the supervisor stops every child, then itself. */
  async #gaveUp(sup: Supervisor): Promise<boolean> {
    const { times, exceeded } = addRestart(sup.restarts, Date.now(), sup.spec.periodMs, sup.spec.intensity);
    sup.restarts = times;
    if (!exceeded) return false;
    this.#persist(sup);
    await this.#shutdownOp(sup, 'shutdown', true);
    return true;
  }

  /**
   * Start `children` again in order. As in OTP, a start that fails is not
   * retried on the spot: the rest are queued as a new operation, so an exit
   * or a shutdown that arrived meanwhile goes first, and the retry counts
   * against intensity (a start that keeps failing ends the supervisor).
   */
  #startPlanned(sup: Supervisor, children: Child[]): void {
    for (let i = 0; i < children.length; i++) {
      if (sup.status !== 'running') break;
      const c = children[i]!;
      try {
        this.#restartChild(sup, c);
      } catch (err) {
        const left = children.slice(i);
        for (const l of left) l.state = 'restarting';
        sup.lastFailure = { id: c.id, pid: c.pid, reason: toErrorData(err, false) };
        sup.pending = left.map((l) => [l.id, this.#runOf(l)]);
        this.#persist(sup);
        void sup.enqueue(() => this.#retryOp(sup, left));
        return;
      }
    }
    sup.pending = null;
    this.#persist(sup);
  }

  #runOf(child: Child): number {
    if (child.pid === null) return 0;
    if (child.spec.kind === 'supervisor') return this.#sups.get(child.pid)?.restarts.length ?? 0;
    return this.#kernel.runOf(child.pid)?.run ?? 0;
  }

  /** Start a child for the first time. */
  #startChild(sup: Supervisor, child: Child): void {
    const spec = child.spec;
    if (spec.kind === 'worker') {
      child.pid = this.#kernel.startChild(spec.script, encode(spec.args), { ref: `${sup.pid}/${spec.id}`, name: spec.name ?? null, parent: sup.pid });
    } else {
      const nested = this.#create(spec.spec, sup, spec.id, spec.name ?? null);
      child.pid = nested.pid;
      this.#startAll(nested);
    }
    child.state = 'running';
  }

  /** Start a child again: same pid, same mailbox, next run (a nested supervisor restarts its children). */
  #restartChild(sup: Supervisor, child: Child): void {
    if (child.pid === null) {
      this.#startChild(sup, child);
      return;
    }
    if (child.spec.kind === 'worker') {
      if (this.#kernel.runOf(child.pid)?.live === true) {
        child.state = 'running';
        return;
      }
      this.#kernel.restartChild(child.pid, child.spec.name ?? null);
    } else {
      // As in OTP, a restarted supervisor is a new supervisor: its children
      // start afresh (the old ones were stopped with it).
      this.#startChild(sup, child);
      return;
    }
    child.state = 'running';
  }

  #startAll(sup: Supervisor): void {
    if (sup.spec.strategy === 'simple_one_for_one') {
      this.#persist(sup);
      return;
    }
    sup.children = sup.spec.children.map((spec) => ({ id: spec.id, spec, pid: null, state: 'stopped' as ChildState, restartAfter: false, stopped: null }));
    for (const child of sup.children) this.#startChild(sup, child);
    this.#persist(sup);
  }

  // ───────────────────────────── shutdown ─────────────────────────────

  /** Stop one child and wait for it: 'shutdown' then 'kill' after the grace (or 'kill' at once). */
  async #terminate(sup: Supervisor, child: Child, restartAfter: boolean): Promise<void> {
    if (child.pid === null || child.state !== 'running') {
      if (child.state === 'stopped' && restartAfter && child.pid !== null) child.state = 'restarting';
      return;
    }
    if (child.spec.kind === 'supervisor') {
      const nested = this.#sups.get(child.pid);
      child.state = 'terminating';
      if (nested !== undefined) await this.#stopSupervisor(nested);
      child.state = 'stopped';
      return;
    }
    child.state = 'terminating';
    child.restartAfter = restartAfter;
    const exited = new Promise<void>((resolve) => (child.stopped = resolve));
    const pid = child.pid;
    const shutdown = child.spec.shutdown;
    let grace: NodeJS.Timeout | null = null;
    const alive = this.#kernel.signal(pid, shutdown.kind === 'brutal_kill' ? 'kill' : 'shutdown', sup.pid);
    if (!alive) {
      child.state = 'stopped';
      child.stopped = null;
      return;
    }
    if (shutdown.kind === 'timeout') grace = setTimeout(() => this.#kernel.signal(pid, 'kill', sup.pid), shutdown.ms);
    await exited;
    if (grace !== null) clearTimeout(grace);
  }

  /** Stop a supervisor's children in reverse start order; it is then dead. */
  async #stopSupervisor(sup: Supervisor): Promise<void> {
    if (sup.status === 'dead') return;
    sup.status = 'stopping';
    this.#persist(sup);
    for (const child of [...sup.children].reverse()) await this.#terminate(sup, child, false);
    for (const child of sup.children) if (child.spec.kind === 'worker' && child.pid !== null) this.#kernel.release(child.pid);
    sup.status = 'dead';
    this.#persist(sup);
  }

  async #shutdownOp(sup: Supervisor, reason: unknown, escalated: boolean): Promise<void> {
    if (sup.status === 'dead') return;
    await this.#stopSupervisor(sup);
    this.#supervisorExited(sup, reason, escalated);
  }

  async #autoShutdown(sup: Supervisor): Promise<void> {
    if (sup.status !== 'running' || sup.spec.autoShutdown === 'never') return;
    const significant = sup.children.filter((c) => c.spec.significant);
    const stopped = (c: Child) => c.state === 'stopped';
    const go = sup.spec.autoShutdown === 'any_significant' ? true : significant.every(stopped);
    if (go) await this.#shutdownOp(sup, 'shutdown', false);
  }

  // ───────────────────────────── persistence and recovery ─────────────────────────────

  #create(spec: SupervisorSpec, parent: Supervisor | null, idInParent: string | null, name: string | null): Supervisor {
    const sup = new Supervisor(this.#kernel.newPid(), spec, parent, idInParent);
    this.#sups.set(sup.pid, sup);
    if (name !== null) this.#names.set(name, sup.pid);
    return sup;
  }

  #persist(sup: Supervisor): void {
    if (sup.status === 'dead') {
      this.#kernel.persist(sup.pid, null);
      this.#sups.delete(sup.pid);
      for (const [name, pid] of this.#names) if (pid === sup.pid) this.#names.delete(name);
      return;
    }
    const record: SupRecord = {
      v: 1,
      spec: sup.spec,
      parent: sup.parent?.pid ?? null,
      idInParent: sup.idInParent,
      children: persistedChildren(sup),
      restarts: sup.restarts,
      status: sup.status,
      dynamic: sup.dynamic,
      pending: sup.pending,
    };
    this.#kernel.persist(sup.pid, encode(record));
  }

  /**
   * Rebuild every supervisor from the journal (after the kernel recovered the
   * processes), then finish what a crash interrupted: a planned restart, or a
   * child that died before its supervisor could act. Children that are alive
   * just carry on: no new runs, no restart storm.
   */
  /**
   * Rebuild the supervisors the journal gives this node: at boot all, later
   * (several nodes) those of trees taken over from a node that died. One
   * already running here is left alone.
   */
  recover(): void {
    const built: Supervisor[] = [];
    const records = this.#kernel.journal.supervisors().map((row) => ({ pid: row.pid, rec: supRecord(row) }));
    const pending: Array<() => void> = [];
    // Running dynamic children are not in their supervisor's record (see
    // persistedChildren): their process rows name them.
    const dynamicRows = new Map<Pid, DynamicRow[]>();
    // Every live row, read only when there is a tree to rebuild (a node of a million idle servers and no tree reads none).
    for (const row of records.length === 0 ? [] : this.#kernel.journal.liveProcesses()) {
      if (row.sup === null) continue;
      const owner = row.sup.slice(0, row.sup.indexOf('/'));
      const list = dynamicRows.get(owner);
      if (list === undefined) dynamicRows.set(owner, [row]);
      else list.push(row);
    }
    // Parents before children, so each nested supervisor finds its parent.
    const byPid = new Map(records.map((r) => [r.pid, r]));
    const build = (pid: Pid): Supervisor | null => {
      const existing = this.#sups.get(pid);
      if (existing !== undefined) return existing;
      const r = byPid.get(pid);
      if (r === undefined) return null;
      const parent = r.rec.parent === null ? null : build(r.rec.parent);
      const sup = new Supervisor(pid, r.rec.spec, parent, r.rec.idInParent);
      built.push(sup);
      sup.restarts = r.rec.restarts;
      sup.status = r.rec.status === 'stopping' ? 'running' : r.rec.status;
      sup.dynamic = r.rec.dynamic;
      sup.pending = r.rec.pending;
      sup.children = r.rec.children.map((c) => ({ id: c.id, spec: c.spec, pid: c.pid, state: c.state, restartAfter: false, stopped: null }));
      if (sup.spec.strategy === 'simple_one_for_one') sup.children = withRunningDynamic(sup, dynamicRows.get(pid) ?? []);
      this.#sups.set(pid, sup);
      if (parent !== null) {
        const name = parent.children.find((c) => c.pid === pid)?.spec.name;
        if (name !== undefined) this.#names.set(name, pid);
      }
      return sup;
    };
    for (const r of records) build(r.pid);
    for (const sup of built) {
      // A shutdown the crash interrupted is finished, not undone.
      if (byPid.get(sup.pid)?.rec.status === 'stopping') {
        pending.push(() => void sup.enqueue(() => this.#shutdownOp(sup, 'shutdown', false)));
        continue;
      }
      if (sup.pending !== null) {
        const plan = sup.pending;
        pending.push(() => void sup.enqueue(() => this.#finishPending(sup, plan)));
        continue;
      }
      for (const child of sup.children) {
        if (child.spec.kind !== 'worker' || child.pid === null) continue;
        if (this.#kernel.runOf(child.pid)?.live === true) continue;
        if (child.state === 'stopped') continue;
        // Died before its supervisor acted (or was waiting for a restart): decide now.
        const row = this.#kernel.journal.process(child.pid);
        const reason = row?.reason === null || row?.reason === undefined ? 'normal' : decode(row.reason);
        child.state = 'running';
        pending.push(() => void this.#childExited(sup, child, reason));
      }
    }
    for (const fn of pending) fn();
  }

  async #finishPending(sup: Supervisor, plan: Array<[string, number]>): Promise<void> {
    for (const [id, run] of [...plan].reverse()) {
      const child = sup.children.find((c) => c.id === id);
      if (child === undefined || child.pid === null || child.spec.kind !== 'worker') continue;
      const now = this.#kernel.runOf(child.pid);
      if (now !== null && now.live && now.run === run) await this.#terminate(sup, child, true);
    }
    for (const [id, run] of plan) {
      const child = sup.children.find((c) => c.id === id);
      if (child === undefined) continue;
      const now = child.pid === null ? null : this.#kernel.runOf(child.pid);
      if (now !== null && now.live && now.run > run) {
        child.state = 'running';
        continue;
      }
      this.#restartChild(sup, child);
    }
    sup.pending = null;
    this.#persist(sup);
  }

  #view(sup: Supervisor): TreeView {
    return {
      pid: sup.pid,
      id: sup.idInParent ?? sup.spec.id ?? 'root',
      strategy: sup.spec.strategy,
      status: sup.status,
      restarts: sup.restarts.length,
      children: sup.children.map((c) => {
        if (c.spec.kind === 'supervisor' && c.pid !== null && this.#sups.has(c.pid)) {
          return { kind: 'supervisor' as const, ...this.#view(this.#sups.get(c.pid)!) };
        }
        const proc = c.pid === null ? null : this.#kernel.runOf(c.pid);
        return {
          kind: 'worker' as const,
          id: c.id,
          pid: c.pid,
          state: c.state,
          name: c.spec.name ?? null,
          run: proc?.run ?? null,
          restart: c.spec.restart,
        };
      }),
    };
  }
}

export { isShutdown };

/**
 * The children a supervisor's record holds. A simple_one_for_one supervisor
 * may have thousands of dynamic children, all alike: its record leaves the
 * running ones out (their process rows say who they are), so a start or an
 * exit writes a record of constant size instead of the whole list — n
 * children would otherwise cost O(n²) journal bytes.
 */
function persistedChildren(sup: Supervisor): SupRecord['children'] {
  const out: SupRecord['children'] = [];
  for (const c of sup.children) {
    const state = c.state === 'terminating' ? 'running' : c.state;
    if (state === 'running' && sup.spec.strategy === 'simple_one_for_one') continue;
    out.push({ id: c.id, pid: c.pid, spec: c.spec, state });
  }
  return out;
}

/** A simple_one_for_one supervisor's children after a restart of the node: its record's, plus the running ones from their process rows. */
type DynamicRow = ReturnType<StoredTree['liveProcesses']>[number];

function withRunningDynamic(sup: Supervisor, rows: DynamicRow[]): Child[] {
  const template = sup.spec.children[0] as WorkerChildSpec;
  const known = new Set(sup.children.map((c) => c.pid));
  const children = [...sup.children];
  for (const row of rows) {
    if (known.has(row.pid)) continue;
    const id = row.sup!.slice(row.sup!.indexOf('/') + 1);
    const spec: WorkerChildSpec = Object.freeze({ ...template, id, args: Object.freeze(decode(row.args) as unknown[]) });
    children.push({ id, spec, pid: row.pid, state: 'running', restartAfter: false, stopped: null });
  }
  // In start order: the number after the template's id.
  const order = (c: Child) => Number(c.id.slice(c.id.lastIndexOf('-') + 1));
  return children.sort((a, b) => order(a) - order(b));
}

/** Follow escalations down to the worker exit that started them. */
function deepest(sup: Supervisor): Failure | null {
  let failure = sup.lastFailure;
  while (failure?.cause) failure = failure.cause;
  return failure === null ? null : { id: failure.id, pid: failure.pid, reason: failure.reason };
}
