// A sleeping process that can be poked: parks on a durable timer of `ms`
// (a receive with a timeout) and ends early when a `poke` message comes.
// Tells `notify` first; the send and the timer are recorded in the same
// round, so once the message is seen the timer is journaled too.
export default async function napper(ctx, ms, notify) {
  ctx.send(notify, { type: 'parked' });
  try {
    await ctx.receive({ match: (m) => m.type === 'poke', timeout: ms });
    return 'poked';
  } catch (err) {
    if (err.name === 'TimeoutError') return 'slept';
    throw err;
  }
}
