// Spawns `n` processes of `script` with `args` in one activation, like
// spawner.js, but returns only every `every`-th pid: a million pids in exit
// results would sit in the kernel's recent exits and weigh in what a
// memory benchmark measures.
export default async function samplingSpawner(ctx, script, n, every, args = []) {
  const pids = await Promise.all(Array.from({ length: n }, () => ctx.spawn(script, args)));
  return pids.filter((_, i) => i % every === 0);
}
