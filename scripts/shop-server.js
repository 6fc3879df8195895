// A stand-in shop API for scripts/order.js: plain node:http on 127.0.0.1.
// It prints every request with its Idempotency-Key, so you can see that a
// resumed order repeats nothing it had finished.
//   node scripts/shop-server.js [port]
import http from 'node:http';

const port = Number(process.argv[2] ?? 8080);
let tracking = 1000;
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const auth = req.headers.authorization === undefined ? '' : ` authorization=${req.headers.authorization}`;
    console.log(`${new Date().toISOString()} ${req.method} ${req.url} key=${req.headers['idempotency-key'] ?? '-'}${auth} ${body}`);
    res.setHeader('content-type', 'application/json');
    if (req.url.endsWith('/ship')) res.end(JSON.stringify({ tracking: `TRK${tracking++}` }));
    else res.end(JSON.stringify({ ok: true }));
  });
});
server.listen(port, '127.0.0.1', () => console.log(`shop API on http://127.0.0.1:${port}`));
