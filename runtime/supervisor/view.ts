// The supervision tree as people look at it: the shape `runtime tree` draws
// and the live view shows, built by a running node from its supervisors
// (Supervision.view) or from the journal alone when no node runs.

import type { Pid } from '../protocol.js';
import type { StoredTree } from './port.js';
import { supRecord, type ChildState, type SupStatus } from './record.js';

export interface TreeView {
  pid: Pid;
  id: string;
  strategy: string;
  status: SupStatus;
  restarts: number;
  children: Array<
    | { kind: 'worker'; id: string; pid: Pid | null; state: ChildState; name: string | null; run: number | null; restart: string }
    | ({ kind: 'supervisor' } & TreeView)
  >;
}

/** The tree as the journal has it, for `runtime tree` when no node runs. */
export function viewFromJournal(store: StoredTree): TreeView[] {
  const records = new Map(store.supervisors().map((row) => [row.pid, supRecord(row)]));
  const build = (pid: Pid, id: string): TreeView => {
    const rec = records.get(pid)!;
    return {
      pid,
      id,
      strategy: rec.spec.strategy,
      status: rec.status,
      restarts: rec.restarts.length,
      children: rec.children.map((c) => {
        if (c.spec.kind === 'supervisor' && c.pid !== null && records.has(c.pid)) return { kind: 'supervisor' as const, ...build(c.pid, c.id) };
        const proc = c.pid === null ? undefined : store.process(c.pid);
        return {
          kind: 'worker' as const,
          id: c.id,
          pid: c.pid,
          state: proc?.status === 'live' ? ('running' as const) : ('stopped' as const),
          name: c.spec.name ?? null,
          run: proc?.run ?? null,
          restart: c.spec.restart,
        };
      }),
    };
  };
  return [...records.entries()].filter(([, r]) => r.parent === null).map(([pid, r]) => build(pid, r.spec.id ?? 'root'));
}

/** Draw a tree view as text. */
export function drawTree(views: TreeView[]): string {
  const lines: string[] = [];
  const walk = (view: TreeView, indent: string) => {
    view.children.forEach((c, i) => {
      const last = i === view.children.length - 1;
      const branch = `${indent}${last ? '└─ ' : '├─ '}`;
      const next = `${indent}${last ? '   ' : '│  '}`;
      if (c.kind === 'supervisor') {
        lines.push(`${branch}${c.id}  ${c.pid}  supervisor ${c.strategy}  ${c.status}  restarts ${c.restarts}`);
        walk(c, next);
      } else {
        lines.push(`${branch}${c.id}  ${c.pid ?? '-'}  ${c.state}  run ${c.run ?? '-'}  ${c.restart}${c.name ? `  [${c.name}]` : ''}`);
      }
    });
  };
  for (const v of views) {
    lines.push(`${v.id}  ${v.pid}  supervisor ${v.strategy}  ${v.status}  restarts ${v.restarts}`);
    walk(v, '');
  }
  return lines.join('\n');
}
