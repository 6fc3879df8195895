// Golden: a selective receive that times out, then one that is satisfied by a message sent to self.
export default async function receiveTimeout(ctx) {
  let timedOut = null;
  try {
    await ctx.receive({ match: (m) => m === 'never', timeout: '30ms' });
  } catch (err) {
    timedOut = { name: err.name, code: err.code };
  }
  ctx.send(ctx.self, 'hello');
  const got = await ctx.receive({ match: (m) => m === 'hello', timeout: '5s' });
  return { timedOut, got };
}
