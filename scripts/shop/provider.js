// A stand-in payment provider: charges once per Idempotency-Key (a repeated
// key gets the first answer back), declines card "0000".
//   node scripts/shop/provider.js [port]
import http from 'node:http';

const port = Number(process.argv[2] ?? 8081);
const seen = new Map();
let next = 1;
http
  .createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const key = req.headers['idempotency-key'];
      let answer = seen.get(key);
      if (answer === undefined) {
        const { card, amount } = JSON.parse(body || '{}');
        answer = card === '0000' ? { status: 402, body: { declined: true } } : { status: 200, body: { id: `ch_${next++}`, amount } };
        if (key) seen.set(key, answer);
        console.log(`${new Date().toISOString()} charge ${body} key=${key} -> ${answer.status}`);
      } else {
        console.log(`${new Date().toISOString()} repeated key=${key}: same answer`);
      }
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer.body));
    });
  })
  .listen(port, '127.0.0.1', () => console.log(`payment provider on http://127.0.0.1:${port}`));
