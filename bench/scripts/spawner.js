// Spawns `n` processes of `script` with `args` in one activation and
// returns their pids. Children are placed next to this process until its
// thread is busier than the others, then spread, as a real fan-out would be.
export default async function spawner(ctx, script, n, args = []) {
  return Promise.all(Array.from({ length: n }, () => ctx.spawn(script, args)));
}
