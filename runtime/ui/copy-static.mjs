// Build step (run by `npm run build` after tsc): put the live view's page
// and the three small browser libraries it imports (preact, its hooks, htm)
// into dist/runtime/ui/static, so the package serves them offline with no
// bundler and nothing fetched at run time.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const out = path.join(root, 'dist', 'runtime', 'ui', 'static');
fs.rmSync(out, { recursive: true, force: true });
fs.cpSync(path.join(root, 'runtime', 'ui', 'static'), out, { recursive: true });
const vendor = {
  'preact.module.js': 'preact/dist/preact.module.js',
  'hooks.module.js': 'preact/hooks/dist/hooks.module.js',
  'htm.module.js': 'htm/dist/htm.module.js',
};
fs.mkdirSync(path.join(out, 'vendor'), { recursive: true });
for (const [name, spec] of Object.entries(vendor)) {
  const file = path.join(root, 'node_modules', spec);
  fs.copyFileSync(file, path.join(out, 'vendor', name));
}
