// Inventory: the stock, as the state of a durable process. It is rebuilt by
// replay after any crash; `runtime query inventory stock` reads it.
export default async function inventory(ctx, initial) {
  const stock = { ...initial };
  ctx.onQuery('stock', () => stock);
  for (;;) {
    const msg = await ctx.receive();
    if (msg.type === 'reserve') {
      const left = stock[msg.item] ?? 0;
      const ok = left >= msg.qty;
      if (ok) stock[msg.item] = left - msg.qty;
      ctx.send(msg.from, { type: 'reserved', ref: msg.ref, ok, left: stock[msg.item] ?? 0 });
    } else if (msg.type === 'release') {
      stock[msg.item] = (stock[msg.item] ?? 0) + msg.qty;
    } else if (msg.type === 'restock') {
      stock[msg.item] = (stock[msg.item] ?? 0) + msg.qty;
      ctx.log(`restocked ${msg.qty} ${msg.item}`);
    }
  }
}
