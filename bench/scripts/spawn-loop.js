// The parent of the `spawn-loop` workload: spawns `n` children one
// `await ctx.spawn` at a time (each does one step and sends back), then
// receives every reply. Spawning waits for the pid; the children run while
// the parent goes on spawning.
export default async function spawnLoop(ctx, n) {
  for (let i = 0; i < n; i++) await ctx.spawn('./replier.js', [ctx.self]);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += (await ctx.receive({ match: (m) => m?.type === 'done' })).one;
  if (sum !== n) throw new Error(`spawn-loop: ${sum} of ${n} children answered 1`);
  return n;
}
