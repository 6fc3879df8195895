// Pids: `<node tag>.<serial>`. The tag is four base-36 characters chosen when
// the journal is created; the serial counts up from 1 per node. Built and
// read here only.

import type { Pid } from './protocol.js';

const PID_PATTERN = /^[0-9a-z]{4}\.\d+$/;

export function makePid(tag: string, serial: number): Pid {
  return `${tag}.${serial}`;
}

/** The serial of a pid (0 when `pid` is not of the form `<tag>.<serial>`). */
export function serialOf(pid: string): number {
  return Number(pid.slice(pid.lastIndexOf('.') + 1)) || 0;
}

/** The tag of a pid (the part before its last dot; '' for an address without one). */
export function tagOf(pid: string): string {
  const dot = pid.lastIndexOf('.');
  return dot <= 0 ? '' : pid.slice(0, dot);
}

/** True for strings of a pid's form (names may not look like one). */
export function looksLikePid(value: string): boolean {
  return PID_PATTERN.test(value);
}

/** An address outside the process table that can receive messages (an HTTP gateway reply). */
export function makePortAddress(tag: string, n: number): string {
  return `${tag}.port${n}`;
}
