// --allow-hosts: the hosts callApi may reach (see http-client.ts). Apart from
// the client so the CLI can check the list without loading undici.

import { BeamlineError, ErrorCodes } from '../errors.js';

/** One --allow-hosts entry, parsed: a hostname (lower case, `*.` suffix match) and an optional port. */
export interface HostPattern {
  readonly host: string;
  readonly wildcard: boolean;
  readonly port: number | null;
}

/** Parse --allow-hosts entries; throws BL_ARG_INVALID naming the bad one. */
export function parseHostPatterns(list: readonly string[]): HostPattern[] {
  return list.map((raw) => {
    const entry = raw.trim().toLowerCase();
    const m = /^(\[[0-9a-f:.]+\]|(?:\*\.)?[a-z0-9._-]+)(?::(\d{1,5}))?$/.exec(entry);
    const port = m?.[2] === undefined ? null : Number(m[2]);
    if (m === null || (port !== null && (port < 1 || port > 65535))) {
      throw new BeamlineError(ErrorCodes.ARG_INVALID, `--allow-hosts: '${raw}' is not a host or host:port (e.g. api.example.com, 127.0.0.1:8080, *.example.com, [::1]:8080)`, { entry: raw });
    }
    const wildcard = m[1]!.startsWith('*.');
    return { host: wildcard ? m[1]!.slice(1) : m[1]!, wildcard, port };
  });
}

/** Does `url` match one of `patterns`? The port is the URL's, or its scheme's default. */
export function hostAllowed(url: URL, patterns: readonly HostPattern[]): boolean {
  const host = url.hostname.toLowerCase();
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  return patterns.some((p) => (p.port === null || p.port === port) && (p.wildcard ? host.endsWith(p.host) : host === p.host));
}
