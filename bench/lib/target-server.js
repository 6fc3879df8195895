// The remote API of the `call-api` and `steps` workloads, run as a process
// of its own:   node target-server.js DELAY_MS
// Answers every request with a small JSON body after DELAY_MS. Requests
// carrying `?i=<k>` have their arrival time recorded (high resolution), and
// GET /__arrivals returns and forgets them as [[k, ms], ...]: the gap
// between the arrivals of step k and k+1 is one whole step as the outside
// world sees it (response, journal commit, wake, next request), measured
// on a clock the runtime under test cannot skew.
// Prints {"port": N} once listening.

import http from 'node:http';

const delay = Number(process.argv[2] ?? 0);
let arrivals = [];

const server = http.createServer({ keepAlive: true }, (req, res) => {
  if (req.url === '/__arrivals') {
    const out = JSON.stringify(arrivals);
    arrivals = [];
    res.writeHead(200, { 'content-type': 'application/json' }).end(out);
    return;
  }
  const q = req.url.indexOf('?i=');
  if (q >= 0) arrivals.push([Number(req.url.slice(q + 3)), performance.now()]);
  req.resume();
  const answer = () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  if (delay > 0) setTimeout(answer, delay);
  else answer();
});
server.keepAliveTimeout = 65_000;
// 1,000 callers may connect at once.
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`));
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
