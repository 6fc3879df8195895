// "Changing code" in README, version 1: an order that waits, then ships.
export default async function order(ctx, orderId) {
  const placed = ctx.now();
  ctx.log(`order ${orderId}: waiting 15 s before shipping`);
  await ctx.sleep('15s');
  return { orderId, pid: ctx.self, shipped: true, placed };
}
