// Golden: the pong side of ping-pong.js.
export default async function pong(ctx) {
  for (;;) {
    const msg = await ctx.receive();
    if (msg.type === 'stop') return 'stopped';
    ctx.send(msg.from, { type: 'pong', i: msg.i });
  }
}
