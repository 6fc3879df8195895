// An order workflow that mixes callApi, a durable sleep and a receive with a
// timeout. Kill its node at any point (kill -9 included) and run the same
// `runtime spawn` again: it resumes where it was, the shop sees no repeated
// request (same Idempotency-Key if one was in flight), no log line repeats.
//
//   node scripts/shop-server.js 8080 &
//   npx runtime spawn scripts/order.js http://127.0.0.1:8080 42
//   npx runtime send order-42 '{"type":"paid"}'      # from another terminal
export default async function order(ctx, shopUrl, orderId) {
  ctx.register(`order-${orderId}`);
  const reserved = await ctx.callApi({ url: `${shopUrl}/orders/${orderId}/reserve`, method: 'POST', body: { orderId } });
  ctx.log(`order ${orderId}: reserved (HTTP ${reserved.status}); the warehouse needs 2s`);
  await ctx.sleep('2s');
  ctx.log(`order ${orderId}: waiting for payment — runtime send order-${orderId} '{"type":"paid"}'`);
  let paid;
  try {
    paid = await ctx.receive({ match: (m) => m.type === 'paid', timeout: '60s' });
  } catch (err) {
    if (err.name !== 'TimeoutError') throw err;
    await ctx.callApi({ url: `${shopUrl}/orders/${orderId}/reserve`, method: 'DELETE' });
    ctx.log(`order ${orderId}: no payment in 60s, reservation released`);
    return { orderId, status: 'cancelled' };
  }
  const shipped = await ctx.callApi({ url: `${shopUrl}/orders/${orderId}/ship`, method: 'POST' });
  if (typeof paid.from === 'string') ctx.send(paid.from, { type: 'shipped', orderId });
  ctx.log(`order ${orderId}: shipped, tracking ${shipped.body.tracking}`);
  return { orderId, status: 'shipped', tracking: shipped.body.tracking };
}
