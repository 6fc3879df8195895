// The benchmark harness must not rot: `bench/run.js --quick` runs every
// workload at a small scale and must exit 0 with a well-formed latest.json.
// It asserts the shape of the results, never the figures (those belong to
// the machine, and a goal not met is a finding, not a failure).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, tmpdir } from '../helpers.js';

const WORKLOADS = ['spawn', 'spawn-loop', 'ping-pong', 'timers', 'wake', 'call-api', 'steps', 'recovery', 'http', 'server', 'cluster'];

// Issue 9's table, row by row: each figure the harness must print (a metric
// matching the pattern) for the workload, with its same-run baseline.
const ISSUE9_ROWS: Array<[string, RegExp]> = [
  ['wake', /sleep\(50\), one process: lateness per wake p50/],
  ['wake', /sleep\(50\), one process: lateness per wake p99/],
  ['wake', /callApi to a 50 ms server .*lateness per wake p50/],
  ['wake', /callApi to a 50 ms server .*lateness per wake p99/],
  ['wake', /receive\(\{timeout: 50\}\), one process: lateness per wake p50/],
  ['wake', /receive\(\{timeout: 50\}\), one process: lateness per wake p99/],
  ['wake', /callApi to a 0 ms server with a now\(\) between: per call p50/],
  ['spawn-loop', /parent spawns \d+ children one await ctx.spawn at a time/],
  ['timers', /sleep\('1s'\) fire lateness p99, 200 processes/],
  ['call-api', /the peers' callapi workload/],
  ['http', /gateway latency p99/],
];

// Issue 10's cluster table: each load on PostgreSQL with 1, 2 and 3 nodes
// beside SQLite; where the time goes (commit latency, idle lease traffic);
// the failover time beside the lease.
const ISSUE10_ROWS: Array<[string, RegExp]> = [
  ...['spawn \\+ exit', 'ping-pong, 6 pairs \\(both ends on one node\\)', 'call-api', 'writer commit latency p50 during spawn'].flatMap((load) =>
    ['1 node', '2 nodes', '3 nodes'].map((k): [string, RegExp] => ['cluster', new RegExp(`^${load}.*: PostgreSQL, ${k}$`)]),
  ),
  ['cluster', /^idle: DB statements\/s per node .*, 2 nodes$/],
  ['cluster', /^idle: DB statements\/s per node .*, 3 nodes$/],
  ['cluster', /^failover: \d+ parked processes, SIGKILL 1 of 2 nodes -> owner column moved/],
];
// Failover's second figure, or the reason it has none (processes that ended on the survivor: a finding, not a harness failure).
const ISSUE10_FAILOVER = /^failover: \d+ parked processes, SIGKILL 1 of 2 nodes -> all parked again/;

interface Row {
  workload: string;
  metric?: string;
  value?: number;
  unit?: string;
  baseline?: { name: string; value: number };
  ratio?: number;
  skipped?: string;
  over?: number;
}

function runQuick(results: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bench', 'run.js'), '--quick', '--results', results], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stderr }));
  });
}

describe('bench/run.js --quick', () => {
  // Eleven workloads, each with its baseline, on a 2-core machine other jobs share: minutes, not seconds.
  it('runs every workload and writes rows with finite numbers', { timeout: 900_000 }, async () => {
    const results = tmpdir('beamline-bench-');
    try {
      const { code, stderr } = await runQuick(results);
      expect(code, stderr).toBe(0);
      const rows = JSON.parse(fs.readFileSync(path.join(results, 'latest.json'), 'utf8')) as Row[];
      expect(Array.isArray(rows)).toBe(true);
      expect(new Set(rows.map((r) => r.workload))).toEqual(new Set(WORKLOADS));
      for (const r of rows) {
        if (r.skipped !== undefined) {
          expect(typeof r.skipped, r.workload).toBe('string');
          continue;
        }
        const where = `${r.workload}: ${r.metric}`;
        expect(typeof r.metric, where).toBe('string');
        expect(typeof r.unit, where).toBe('string');
        expect(typeof r.baseline?.name, where).toBe('string');
        expect(Number.isFinite(r.value), where).toBe(true);
        expect(Number.isFinite(r.baseline?.value), where).toBe(true);
        expect(Number.isFinite(r.ratio), where).toBe(true);
        expect(r.ratio!, where).toBeGreaterThan(0);
        if (r.over !== undefined) expect(Number.isFinite(r.over), where).toBe(true);
      }
      for (const [workload, metric] of [...ISSUE9_ROWS, ...ISSUE10_ROWS]) {
        const found = rows.filter((r) => r.workload === workload && r.skipped === undefined && metric.test(r.metric ?? ''));
        expect(found.length, `${workload}: a row matching ${metric}`).toBe(1);
      }
      const resumed = rows.filter((r) => r.workload === 'cluster' && ISSUE10_FAILOVER.test(r.metric ?? ''));
      const failoverSkipped = rows.filter((r) => r.workload === 'cluster' && /^failover: /.test(r.skipped ?? ''));
      expect(resumed.length + failoverSkipped.length, 'cluster: the failover row, or why there is none').toBe(1);
      // Lateness rows carry their margin over the raw loop, as the issue's goals are written.
      for (const r of rows.filter((x) => x.workload === 'wake' && /lateness/.test(x.metric ?? ''))) expect(r.over, r.metric).toBeDefined();
      // Every cluster figure stands beside SQLite's of the same run (or the lease, for failover; 1 idle node, for idle traffic).
      for (const r of rows.filter((x) => x.workload === 'cluster' && x.skipped === undefined)) {
        expect(r.baseline!.name, r.metric).toMatch(/^(SQLite, 1 node, same load|the lease \(--lease \d+s\)|1 node alone, same run|both ends on one node, PostgreSQL, 1 node)$/);
      }
      expect(fs.readFileSync(path.join(results, 'latest.md'), 'utf8')).toMatch(/Durability: (FULL|NORMAL)/);
    } finally {
      fs.rmSync(results, { recursive: true, force: true });
    }
  });
});
