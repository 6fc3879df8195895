// Parks on a long durable timer (the `timers` workload's memory phase).
export default async function parked(ctx, ms) {
  await ctx.sleep(ms);
  return null;
}
