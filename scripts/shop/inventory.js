// Inventory: the stock, as the state of a server (ctx.serve). A reservation
// is a call, answered with {ok, left}; release and restock are plain
// messages. The runtime snapshots the stock, so however long the shop runs,
// a recovery loads the last snapshot and replays only what came after it.
// `runtime query inventory stock` reads the current stock.
export default async function inventory(ctx, initial) {
  return ctx.serve({
    state: { ...initial },
    queries: { stock: (stock) => stock },
    handle(msg, stock) {
      if (msg.type === 'call' && msg.body?.type === 'reserve') {
        const { item, qty } = msg.body;
        const left = stock[item] ?? 0;
        if (left < qty) return { state: stock, reply: { ok: false, left } };
        return { state: { ...stock, [item]: left - qty }, reply: { ok: true, left: left - qty } };
      }
      if (msg.type === 'release' || msg.type === 'restock') {
        if (msg.type === 'restock') ctx.log(`restocked ${msg.qty} ${msg.item}`);
        return { ...stock, [msg.item]: (stock[msg.item] ?? 0) + msg.qty };
      }
      return stock;
    },
  });
}
