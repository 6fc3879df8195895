// GET /metrics: the overview's numbers in Prometheus text format, so a
// user's Prometheus/Grafana can watch the node. Everything is read at scrape
// time from Node.stats() (one snapshot per scrape, shared by every metric):
// nothing is counted on the node's hot path for this.

import { Counter, Gauge, Registry } from 'prom-client';
import type { Node, NodeStats } from '../node.js';
import { percentile } from './data.js';

export class Metrics {
  readonly registry = new Registry();
  readonly #node: Node;
  #snap: NodeStats | null = null;
  #snapAt = 0;

  constructor(node: Node) {
    this.#node = node;
    const stats = () => this.#stats();
    const reg = [this.registry];
    const total = (name: string, help: string, read: (s: NodeStats) => number) =>
      new Counter({
        name,
        help,
        registers: reg,
        collect() {
          // A counter mirrored from the node's own running total.
          this.reset();
          this.inc(read(stats()));
        },
      });
    total('beamline_processes_spawned_total', 'Processes spawned (committed to the journal) since the node booted.', (s) => s.spawned);
    total('beamline_processes_exited_total', 'Processes exited (committed to the journal) since the node booted.', (s) => s.exited);
    total('beamline_wakes_total', 'Wake markers queued by the kernel (timers fired, messages across threads, calls answered).', (s) => s.wakes);
    total('beamline_journal_commits_total', 'Journal commits (group commits, one transaction each).', (s) => s.commits);
    total('beamline_journal_events_total', 'Journal events written by those commits (commits_total over events_total is the batch size).', (s) => s.committedEvents);
    new Gauge({
      name: 'beamline_processes',
      help: "Processes in the kernel's table, by state ('dead': held for a supervisor restart).",
      labelNames: ['state'],
      registers: reg,
      collect() {
        for (const [state, n] of Object.entries(stats().states)) this.set({ state }, n);
      },
    });
    new Gauge({
      name: 'beamline_journal_commit_latency_seconds',
      help: 'Commit latency (queued to durable) over the most recent commits (up to 1,024).',
      labelNames: ['quantile'],
      registers: reg,
      collect() {
        const l = stats().commitLatencies;
        this.set({ quantile: '0.5' }, percentile(l, 0.5) / 1000);
        this.set({ quantile: '0.99' }, percentile(l, 0.99) / 1000);
      },
    });
    new Gauge({
      name: 'beamline_timers_armed',
      help: 'Durable timers armed in the kernel.',
      registers: reg,
      collect() {
        this.set(stats().timers);
      },
    });
    new Counter({
      name: 'beamline_thread_slice_seconds_total',
      help: 'Time each worker thread spent in scheduler slices (sent to reported back).',
      labelNames: ['thread'],
      registers: reg,
      collect() {
        this.reset();
        stats().threads.forEach((t, i) => this.inc({ thread: String(i) }, t.sliceMs / 1000));
      },
    });
    new Counter({
      name: 'beamline_thread_slices_total',
      help: 'Scheduler slices each worker thread ran.',
      labelNames: ['thread'],
      registers: reg,
      collect() {
        this.reset();
        stats().threads.forEach((t, i) => this.inc({ thread: String(i) }, t.slices));
      },
    });
    new Gauge({
      name: 'beamline_thread_heap_bytes',
      help: "V8 heap in use on each worker thread (from its last slice).",
      labelNames: ['thread'],
      registers: reg,
      collect() {
        stats().threads.forEach((t, i) => this.set({ thread: String(i) }, t.heap));
      },
    });
    new Gauge({
      name: 'beamline_process_resident_memory_bytes',
      help: "Resident set size of the node's OS process.",
      registers: reg,
      collect() {
        this.set(stats().rss);
      },
    });
    new Gauge({
      name: 'beamline_heap_used_bytes',
      help: "V8 heap in use on the node's main thread.",
      registers: reg,
      collect() {
        this.set(stats().heapUsed);
      },
    });
  }

  /** The text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** One snapshot per scrape: every metric's collect() runs within a few ms of the others. */
  #stats(): NodeStats {
    const now = performance.now();
    if (this.#snap === null || now - this.#snapAt > 250) {
      this.#snap = this.#node.stats();
      this.#snapAt = now;
    }
    return this.#snap;
  }
}
