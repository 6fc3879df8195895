// The workloads, in the order the harness runs them (bench/workloads/<name>.js).
export const WORKLOADS = ['spawn', 'ping-pong', 'timers', 'call-api', 'steps', 'recovery', 'http'];
