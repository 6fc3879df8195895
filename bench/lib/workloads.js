// The workloads, in the order the harness runs them (bench/workloads/<name>.js).
export const WORKLOADS = ['spawn', 'spawn-loop', 'ping-pong', 'timers', 'wake', 'call-api', 'steps', 'recovery', 'http', 'server', 'cluster'];

// Workloads whose node under test runs in a child process of their own (a
// `runtime` command) rather than inside the workload process: to profile
// the node, the profiler must wrap that child (see nodeCommand()).
export const NODE_IN_CHILD = new Set(['http', 'server']);
