// The Piscina task of the `spawn` baseline: nothing at all, so the figure is
// the pool's own cost per task (queue, balance, post, reply).
export default function empty() {
  return null;
}
