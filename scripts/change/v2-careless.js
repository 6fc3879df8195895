// "Changing code" in README, version 2 written carelessly: a new step before
// the sleep. A process that v1 left asleep recorded the sleep at step 1.
export default async function order(ctx, orderId) {
  const placed = ctx.now();
  const receipt = await ctx.step('receipt', () => `R-${orderId}`);
  ctx.log(`order ${orderId}: waiting 15 s before shipping`);
  await ctx.sleep('15s');
  return { orderId, pid: ctx.self, shipped: true, placed, receipt };
}
