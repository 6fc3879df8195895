// "Changing code" in README, version 2, stage 1 of the patch 'receipt': the
// new step behind ctx.patched, the old code kept for histories v1 recorded.
export default async function order(ctx, orderId) {
  const placed = ctx.now();
  let receipt = null;
  if (ctx.patched('receipt')) {
    receipt = await ctx.step('receipt', () => `R-${orderId}`);
  }
  ctx.log(`order ${orderId}: waiting 15 s before shipping`);
  await ctx.sleep('15s');
  return { orderId, pid: ctx.self, shipped: true, placed, receipt };
}
