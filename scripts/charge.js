// Pays with an API key the script never holds: ctx.secret('SHOP_KEY') is a
// reference ("{{secret:SHOP_KEY}}"); the kernel puts the value in at send
// time, from BEAMLINE_SECRET_SHOP_KEY or the node's --secrets file, so only
// the reference is journaled.
//   BEAMLINE_SECRET_SHOP_KEY=... npx runtime spawn scripts/charge.js http://127.0.0.1:8080 42
export default async function charge(ctx, shop, amount) {
  const res = await ctx.callApi({
    url: `${shop}/charges`,
    method: 'POST',
    headers: { authorization: `Bearer ${ctx.secret('SHOP_KEY')}` },
    body: { amount },
  });
  return { status: res.status, body: res.body };
}
