// Payments: charges cards through the provider's HTTP API. The request is
// journaled before it leaves and carries an Idempotency-Key, so a crash
// mid-charge re-sends the same key and the provider charges once.
export default async function payments(ctx, providerUrl) {
  for (;;) {
    const msg = await ctx.receive({ match: (m) => m.type === 'charge' });
    let reply;
    try {
      const res = await ctx.callApi({ url: `${providerUrl}/charges`, method: 'POST', body: { card: msg.card, amount: msg.amount, order: msg.orderId } });
      reply = { type: 'charged', ref: msg.ref, ok: res.status === 200, id: res.body?.id ?? null };
    } catch (err) {
      reply = { type: 'charged', ref: msg.ref, ok: false, error: err.message };
    }
    ctx.send(msg.from, reply);
  }
}
