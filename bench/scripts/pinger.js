// Ping-pong against a pong that is already running (scripts/pong.js),
// perhaps on another node: `rounds` round trips to `pong`, every send and
// receive journaled. Used by the `cluster` workload's cross-node row.
export default async function pinger(ctx, pong, rounds) {
  for (let i = 0; i < rounds; i++) {
    ctx.send(pong, { type: 'ping', from: ctx.self, i });
    await ctx.receive({ match: (m) => m.type === 'pong' && m.i === i });
  }
  return rounds;
}
