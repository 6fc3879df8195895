// The order desk behind the HTTP gateway: every POST /call/orders arrives as
// {type: 'call', from, body}; each order gets its own process (so a slow
// payment never holds up the next order), which answers the caller itself.
export default async function orders(ctx) {
  let n = 0;
  for (;;) {
    const call = await ctx.receive({ match: (m) => m.type === 'call' });
    n++;
    await ctx.spawn('./order-flow.js', [call.from, `${ctx.self}-${n}`, call.body]);
  }
}
