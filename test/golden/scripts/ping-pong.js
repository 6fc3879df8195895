// Golden: two processes exchange three pings and pongs, then the ponger is told to stop.
export default async function pingPong(ctx, rounds = 3) {
  const pong = await ctx.spawn('./pong.js', [], { link: true });
  const got = [];
  for (let i = 0; i < rounds; i++) {
    ctx.send(pong, { type: 'ping', from: ctx.self, i });
    const m = await ctx.receive({ match: (m) => m.type === 'pong' && m.i === i });
    got.push(m.i);
  }
  ctx.send(pong, { type: 'stop' });
  return got;
}
