// The cheapest durable process: starts, exits normally. Used by `spawn`.
export default async function empty() {
  return null;
}
