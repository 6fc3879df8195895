// Ping-pong, the ping side: spawns a ponger next to itself and exchanges
// `rounds` messages with it. Every send and receive is journaled.
//   npx runtime spawn scripts/ping.js 1000
export default async function ping(ctx, rounds = 1000) {
  const pong = await ctx.spawn('./pong.js', [], { link: true });
  const started = ctx.now();
  for (let i = 0; i < rounds; i++) {
    ctx.send(pong, { type: 'ping', from: ctx.self, i });
    await ctx.receive({ match: (m) => m.type === 'pong' && m.i === i });
  }
  ctx.send(pong, { type: 'stop' });
  const ms = ctx.now() - started;
  ctx.log(`${rounds} round trips in ${ms} ms`);
  return { rounds, ms };
}
