// The gateway's echo process: answers every call with its own body.
export default async function echo(ctx) {
  for (;;) {
    const msg = await ctx.receive();
    if (msg?.type === 'call') ctx.send(msg.from, msg.body);
  }
}
