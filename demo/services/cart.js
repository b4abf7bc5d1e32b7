// SPDX-License-Identifier: Apache-2.0
// The demo's cart service (Node.js): GET /cart?user=N increments the user's cart counter
// in Redis and returns it. Plain Node: RESP is spoken over one kept-alive TCP connection
// with a FIFO of waiting callbacks (Redis answers in order). No tracing code.
'use strict';
const http = require('http');
const net = require('net');

const [host, port, redisHost, redisPort] = process.argv.slice(2);
const waiting = [];
let buf = Buffer.alloc(0);
const redis = net.connect(Number(redisPort), redisHost);
redis.setNoDelay(true);
redis.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  for (;;) {
    const eol = buf.indexOf('\r\n');
    if (eol < 0) return;
    const line = buf.subarray(0, eol).toString();
    buf = buf.subarray(eol + 2);
    const cb = waiting.shift();
    if (cb) cb(line[0] === '-' ? new Error(line.slice(1)) : null, line.slice(1));
  }
});
redis.on('error', (e) => { console.error('redis:', e.message); process.exit(1); });

function incr(key, cb) {
  waiting.push(cb);
  redis.write(`*2\r\n$4\r\nINCR\r\n$${Buffer.byteLength(key)}\r\n${key}\r\n`);
}

http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname !== '/cart') { res.writeHead(404); res.end(); return; }
  incr(`cart:${url.searchParams.get('user') || '0'}`, (err, n) => {
    const body = JSON.stringify(err ? { error: err.message } : { items: Number(n) });
    res.writeHead(err ? 500 : 200, { 'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
}).listen(Number(port), host);
