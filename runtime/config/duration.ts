// Durations as users write them: a number of milliseconds, or a string of
// one or more <number><unit> parts ('250ms', '5s', '1h30m', '1.5s').
// Hand-written rather than a dependency because the error must name the
// field and say what is accepted, and the grammar is eight lines.

import { BeamlineError, ErrorCodes } from '../errors.js';

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

export type Duration = number | string;

/**
 * Parse a duration into whole milliseconds. `field` names the argument in the
 * error ('sleep', 'timeout', 'period', 'children[2].shutdown').
 */
export function parseDuration(value: unknown, field = 'duration'): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return Math.round(value);
    throw bad(value, field);
  }
  if (typeof value !== 'string') throw bad(value, field);
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text));
  if (text.length === 0) throw bad(value, field);
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const at = PART.lastIndex;
    const m = PART.exec(text);
    if (m === null || m.index !== at) throw bad(value, field);
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
  }
  return Math.round(total);
}

/** True when `value` parses as a duration. */
export function isDuration(value: unknown): boolean {
  try {
    parseDuration(value);
    return true;
  } catch {
    return false;
  }
}

function bad(value: unknown, field: string): BeamlineError {
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return new BeamlineError(
    ErrorCodes.ARG_INVALID,
    `${field}: ${shown} is not a duration; use milliseconds (250) or a string like '250ms', '5s', '1h30m'`,
    { field, value: shown },
  );
}
