// A fan-out child: squares its number and reports to its parent.
export default async function square(ctx, parent, i) {
  ctx.send(parent, { type: 'square', i, value: i * i });
  return i * i;
}
