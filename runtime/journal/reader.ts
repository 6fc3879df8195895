// A worker thread's read-only view of the journal, opened from the plain
// description the store gave the kernel (Store.readerSpec). Threads never
// know which database is behind it.

import { BeamlineError, ErrorCodes } from '../errors.js';
import { JournalReader } from './sqlite-reader.js';
import { PgReader } from './pg-reader.js';
import type { ReaderSpec, StoreReader } from './store.js';

export function openReader(spec: ReaderSpec): StoreReader {
  switch (spec.kind) {
    case 'sqlite':
      return new JournalReader(spec.path, spec.keys);
    case 'postgres':
      return new PgReader(spec.url, spec.keys);
    default: {
      const never: never = spec;
      throw new BeamlineError(ErrorCodes.INTERNAL, `no journal reader for ${JSON.stringify(never)}`);
    }
  }
}
