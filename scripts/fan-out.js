// Fan-out / gather: spawns `n` children at once (they spread over every
// thread), each sends back one reply, and the parent gathers them all.
//   npx runtime spawn scripts/fan-out.js 5000
export default async function fanOut(ctx, n = 1000) {
  const children = await Promise.all(Array.from({ length: n }, (_, i) => ctx.spawn('./square.js', [ctx.self, i])));
  let sum = 0;
  for (let got = 0; got < n; got++) {
    const reply = await ctx.receive({ match: (m) => m.type === 'square' });
    sum += reply.value;
  }
  ctx.log(`gathered ${n} replies from ${new Set(children).size} children`);
  return { children: children.length, sum };
}
