// Failure model, row "script throws": the exit is journaled with its reason
// and the message being handled; links and monitors fire.

import { describe, expect, it } from 'vitest';
import { decode, fixture, nodesPerTest, query, readRows, REPLAY_MODES } from '../helpers.js';
import { within } from '../fixtures/natives/http-server.js';

const node = nodesPerTest();

describe.each(REPLAY_MODES)('a script throws (%s)', (_label, opts) => {
  it('journals the exit with its reason and the message it was handling; links and monitors fire', async () => {
    const n = await node(opts);
    const overseer = await n.spawn(fixture('failure/overseer.js'));
    const exit = await within(n.waitExit(overseer), 20_000, 'the overseer to exit');
    expect(exit.reason).toBe('normal');
    const r = exit.result as { charger: string; bystander: string; ref: string; charged: unknown; exit: any; down: any; byDown: any };
    expect(r.charged).toEqual({ type: 'charged', total: 5 });

    // The journal: exited, with the error as reason and the bad message as last_message.
    const [row] = query<{ status: string; reason: Buffer; last_message: Buffer | null; result: Buffer | null }>(
      n.db,
      'SELECT status, reason, last_message, result FROM processes WHERE pid = ?',
      r.charger,
    );
    expect(row!.status).toBe('exited');
    const reason = decode(row!.reason) as Record<string, unknown>;
    expect(reason).toMatchObject({ error: 'RangeError', message: 'negative amount -1' });
    expect(row!.last_message).not.toBeNull();
    expect(decode(row!.last_message!)).toEqual({ type: 'charge', amount: -1, from: overseer, note: 'the bad one' });
    expect(row!.result).toBeNull();
    // The history's last row carries the same reason.
    expect(readRows(n.db, r.charger).at(-1)!.x).toEqual(reason);
    // waitExit agrees with the journal.
    expect((await n.waitExit(r.charger)).reason).toEqual(reason);

    // The trapping, linked overseer got an exit message; its monitor a down message; same reason.
    expect(r.exit).toEqual({ type: 'exit', from: r.charger, reason });
    expect(r.down).toEqual({ type: 'down', ref: r.ref, pid: r.charger, reason });
    // The non-trapping bystander linked to it died of the same reason.
    expect(r.byDown).toMatchObject({ type: 'down', pid: r.bystander, reason });
    const [by] = query<{ status: string; reason: Buffer }>(n.db, 'SELECT status, reason FROM processes WHERE pid = ?', r.bystander);
    expect(by!.status).toBe('exited');
    expect(decode(by!.reason)).toEqual(reason);
    // Nothing left behind: no links, monitors or mailbox entries of the dead.
    expect(query(n.db, 'SELECT * FROM links')).toEqual([]);
    expect(query(n.db, 'SELECT * FROM monitors')).toEqual([]);
    expect(query(n.db, 'SELECT * FROM mailbox WHERE pid IN (?, ?)', r.charger, r.bystander)).toEqual([]);
  });
});
