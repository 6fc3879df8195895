// Golden: sleep, a step, and the values that are drawn once and replayed (now, random, uuid).
export default async function clock(ctx) {
  const t0 = ctx.now();
  await ctx.sleep(20);
  const charged = await ctx.step('charge', () => ({ charged: 42 }));
  const later = await ctx.step('async-step', async () => 'done');
  const r = ctx.random();
  const id = ctx.uuid();
  ctx.log('drew', typeof r, id.length);
  const t1 = ctx.now();
  return { charged, later, ordered: t1 >= t0 + 20, inRange: r >= 0 && r < 1 };
}
