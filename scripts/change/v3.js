// "Changing code" in README, version 3, stage 2 of the patch 'receipt': no
// process from before the patch is alive, so the old branch goes. The call
// stays one release (it still leaves the marker, so v2 can replay what v3
// records); stage 3 deletes the line.
export default async function order(ctx, orderId) {
  const placed = ctx.now();
  ctx.deprecatePatch('receipt');
  const receipt = await ctx.step('receipt', () => `R-${orderId}`);
  ctx.log(`order ${orderId}: waiting 15 s before shipping`);
  await ctx.sleep('15s');
  return { orderId, pid: ctx.self, shipped: true, placed, receipt };
}
