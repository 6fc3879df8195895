// Root of the `recovery` workload: starts `n` nappers, waits until every
// one of them has reported in, logs `all <n> parked`, then waits for a stop
// message that never comes (so it is live, parked, when killed).
export default async function parkedTree(ctx, n, ms) {
  await Promise.all(Array.from({ length: n }, () => ctx.spawn('./napper.js', [ms, ctx.self])));
  for (let seen = 0; seen < n; seen++) await ctx.receive({ match: (m) => m.type === 'parked' });
  ctx.log(`all ${n} parked`);
  await ctx.receive({ match: (m) => m.type === 'stop' });
  return n;
}
