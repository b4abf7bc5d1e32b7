// SPDX-License-Identifier: Apache-2.0
// HTTP/2 prior-knowledge client for test_proto_http2.py (curl 7.88 cannot reuse an h2c
// prior-knowledge connection): node h2client.js PORT PATH... sends the GETs concurrently
// over one connection and prints each status.
const http2 = require('http2');
const session = http2.connect('http://127.0.0.1:' + process.argv[2]);
const paths = process.argv.slice(3);
let left = paths.length;
const codes = {};
for (const p of paths) {
  const req = session.request({ ':path': p });
  req.on('response', (h) => { codes[p] = h[':status']; });
  req.resume();
  req.on('end', () => {
    if (--left === 0) {
      for (const q of paths) console.log(q + ' ' + codes[q]);
      session.close();
    }
  });
}
