// One copy of each script path, shared by every record that names it. A
// path decoded from a slice report or task (msgpack) is a slice of one
// string holding every string of that message, and keeps all of it alive;
// one read from the journal is a copy per row. 100,000 parked processes of
// one script held about 90 bytes each for their path in the kernel, and
// more in their thread. The set only grows with the scripts a node runs.

const known = new Map<string, string>();

export function internScript(path: string): string {
  const seen = known.get(path);
  if (seen !== undefined) return seen;
  // A fresh string of its own (split and join copy code unit by code unit):
  // keeping `path` itself would keep what it is a slice of.
  const own = path.split('').join('');
  known.set(own, own);
  return own;
}
