// Golden: a child of family.js that waits for 'go', then ends as told.
export default async function child(ctx, how) {
  await ctx.receive({ match: (m) => m === 'go' });
  if (how === 'fail') throw new Error('child failed on purpose');
  return 'finished';
}
