// Sleeps `ms` and returns how late it woke, in ms, read from the process's
// own clock (ctx.now() is the live wall clock on first execution): the
// lateness of a durable timer as a script sees it.
export default async function sleeper(ctx, ms = 1000) {
  const before = ctx.now();
  await ctx.sleep(ms);
  return ctx.now() - before - ms;
}
