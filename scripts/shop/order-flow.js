// One order: reserve stock, charge the card, answer the HTTP caller.
const PRICES = { apple: 3, pear: 4 };

export default async function orderFlow(ctx, replyTo, orderId, order) {
  const { item, qty, card } = order ?? {};
  if (!PRICES[item] || !Number.isInteger(qty) || qty < 1) {
    ctx.send(replyTo, { orderId, status: 'rejected', reason: 'unknown item or bad quantity' });
    return 'rejected';
  }
  const reserved = await ctx.call('inventory', { type: 'reserve', item, qty }, { timeout: '5s' });
  if (!reserved.ok) {
    ctx.send(replyTo, { orderId, status: 'out-of-stock', left: reserved.left });
    return 'out-of-stock';
  }
  const ref = ctx.uuid();
  ctx.send('payments', { type: 'charge', card, amount: PRICES[item] * qty, orderId, ref, from: ctx.self });
  const charged = await ctx.receive({ match: (m) => m.type === 'charged' && m.ref === ref, timeout: '30s' });
  if (!charged.ok) {
    ctx.send('inventory', { type: 'release', item, qty });
    ctx.send(replyTo, { orderId, status: 'payment-failed' });
    return 'payment-failed';
  }
  ctx.send(replyTo, { orderId, status: 'confirmed', charge: charged.id, left: reserved.left });
  return 'confirmed';
}
