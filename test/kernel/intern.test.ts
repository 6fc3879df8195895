// internScript: one copy of each script path, equal to what it was given.

import { describe, expect, it } from 'vitest';
import { internScript } from '../../dist/runtime/intern.js';

describe('internScript', () => {
  it('returns an equal string, the same one for every equal path, and keeps paths apart', () => {
    const base = '/srv/app/scripts/';
    const a = internScript(`${base}worker.js`);
    const b = internScript(['', 'srv', 'app', 'scripts', 'worker.js'].join('/'));
    expect(a).toBe('/srv/app/scripts/worker.js');
    expect(b).toBe(a);
    expect(internScript(`${base}other.js`)).toBe('/srv/app/scripts/other.js');
    // Any code unit survives the copy, a lone surrogate included.
    const odd = `${base}\ud800x.js`;
    expect(internScript(odd)).toBe(odd);
  });
});
