// Makes `calls` sequential callApi requests to `url`, numbering them with
// `?i=` so the server can timestamp each step. Used by `call-api` (5 calls)
// and `steps` (10,000 calls).
export default async function caller(ctx, url, calls) {
  for (let i = 0; i < calls; i++) {
    const res = await ctx.callApi({ url: `${url}?i=${i}`, retries: 0 });
    if (res.status !== 200) throw new Error(`call ${i}: HTTP ${res.status}`);
  }
  return calls;
}
