// `--ui HOST:PORT` and `--ui-token TOKEN`, shared by `runtime start` and
// `runtime spawn`: parsed at the boundary (one-line usage errors), then the
// view started beside the node and its address (with the token) printed.

import { UsageError } from '../cli/args.js';
import type { Node } from '../node.js';
import type { UiServer } from './server.js';

export const uiOptions = {
  ui: { type: 'string' },
  'ui-token': { type: 'string' },
} as const;

export interface UiSpec {
  host: string;
  port: number;
  token: string | undefined;
}

export function uiSpecFrom(values: Record<string, string | boolean | undefined>): UiSpec | null {
  const token = values['ui-token'] as string | undefined;
  if (values.ui === undefined) {
    if (token !== undefined) throw new UsageError('--ui-token: only with --ui HOST:PORT');
    return null;
  }
  const value = values.ui as string;
  // A bare port binds 127.0.0.1: the view is local unless asked otherwise.
  const m = /^(?:(.*):)?(\d+)$/.exec(value);
  const port = Number(m?.[2]);
  if (m === null || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`--ui: expected HOST:PORT or PORT, e.g. 127.0.0.1:4000 (got ${value})`);
  }
  if (token !== undefined && (token.length < 8 || /\s/.test(token))) {
    throw new UsageError('--ui-token: expected at least 8 characters without spaces');
  }
  return { host: (m[1] ?? '').replace(/^\[(.*)\]$/, '$1') || '127.0.0.1', port, token };
}

/** Start the view on `node` and print where it is (stderr, with the token). */
export async function startUi(node: Node, spec: UiSpec): Promise<UiServer> {
  // Loaded only when a view is asked for: the view and its metrics (prom-client) take ~150 ms to import.
  const { UiServer } = await import('./server.js');
  const ui = new UiServer(node, { host: spec.host, port: spec.port, token: spec.token });
  const addr = await ui.listen();
  process.stderr.write(`runtime: live view on ${ui.url(addr)} (actions need this token; read-only without it)\n`);
  return ui;
}
