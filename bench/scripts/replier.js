// A child of the `spawn-loop` workload's parent: one step, then a reply.
export default async function replier(ctx, parent) {
  const one = await ctx.step('work', () => 1);
  ctx.send(parent, { type: 'done', from: ctx.self, one });
  return null;
}
