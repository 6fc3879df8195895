// Golden: callApi to a local server at a fixed path; one success, one 404 that the script catches.
export default async function callApi(ctx, base) {
  const ok = await ctx.callApi({ method: 'POST', url: `${base}/golden/orders`, body: { sku: 'A-1', qty: 2 } });
  let missing = null;
  try {
    await ctx.callApi({ method: 'GET', url: `${base}/golden/missing` });
  } catch (err) {
    missing = { name: err.name, code: err.code, status: err.details?.status ?? null };
  }
  return { status: ok.status, body: ok.body, missing };
}
