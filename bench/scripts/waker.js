// One process waking `n` times in a row, for the `wake` workload. `how` is
// what it waits on each time: 'sleep' (ctx.sleep(ms)), 'call' (callApi to
// `url`, a server that answers after `ms`; ms 0 with a ctx.now() after each
// call is the "callApi with a now() between"), or 'receive' (a
// receive({timeout: ms}) that no message ever ends).
//
// Each wake is timed on the real monotonic clock (process.hrtime, the same
// clock on every thread and in every process of the machine), not
// ctx.now(): that is a recorded value with a 1 ms grain. The timings leave
// as log lines, which are suppressed while replaying, so a replayed wake
// can never pass a journaled value off as a live one: the workload counts
// the lines. Reading the clock directly breaks replay determinism only for
// the log lines' content, which is never replayed.
const clock = () => Number(process.hrtime.bigint()) / 1e6;

export default async function waker(ctx, how, n, ms, url) {
  for (let i = 0; i < n; i++) {
    const t0 = clock();
    if (how === 'sleep') await ctx.sleep(ms);
    else if (how === 'call') {
      const res = await ctx.callApi({ url: `${url}?i=${i}`, retries: 0 });
      if (res.status !== 200) throw new Error(`call ${i}: HTTP ${res.status}`);
      if (ms === 0) ctx.now();
    } else if (how === 'receive') {
      try {
        await ctx.receive({ timeout: ms });
        throw new Error(`receive ${i}: a message arrived, but nobody sends to this process`);
      } catch (err) {
        if (err.name !== 'TimeoutError') throw err;
      }
    } else throw new Error(`waker: unknown wait '${how}'`);
    ctx.log(JSON.stringify({ wake: how, i, ms: clock() - t0 }));
  }
  return n;
}
