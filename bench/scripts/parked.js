// Parks on a long durable timer. When `notify` is a pid, tells it first
// (the send and the timer are recorded in the same round, so once the
// message is seen the timer is journaled too).
export default async function parked(ctx, ms, notify = null) {
  if (notify !== null) ctx.send(notify, { type: 'parked' });
  await ctx.sleep(ms);
  return null;
}
