// Golden: spawn, link, monitor and exits. The parent traps exits, links a
// child that fails, monitors one that ends normally, then exits with a reason.
export default async function family(ctx) {
  ctx.trapExit(true);
  const failing = await ctx.spawn('./child.js', ['fail']);
  ctx.link(failing);
  ctx.send(failing, 'go');
  const signal = await ctx.receive({ match: (m) => m.type === 'exit' && m.from === failing });
  const normal = await ctx.spawn('./child.js', ['normal']);
  const ref = ctx.monitor(normal);
  ctx.send(normal, 'go');
  const down = await ctx.receive({ match: (m) => m.type === 'down' && m.ref === ref });
  ctx.exit({ done: [signal.reason.message ?? signal.reason, down.reason] });
}
