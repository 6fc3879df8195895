// Ping-pong, the pong side: answers every ping until told to stop.
export default async function pong(ctx) {
  for (;;) {
    const msg = await ctx.receive();
    if (msg.type === 'stop') return 'stopped';
    ctx.send(msg.from, { type: 'pong', i: msg.i });
  }
}
