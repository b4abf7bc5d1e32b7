// SPDX-License-Identifier: Apache-2.0
// gRPC client for test_proto_http2.py: node client.js PORT. On one channel: an OK unary
// call, a unary call failing with NOT_FOUND, a server-streaming call of 3 replies.
const path = require('path');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const def = loader.loadSync(path.join(__dirname, 'greeter.proto'));
const demo = grpc.loadPackageDefinition(def).demo;
const client = new demo.Greeter('127.0.0.1:' + process.argv[2], grpc.credentials.createInsecure());

function unary(name) {
  return new Promise((resolve) => {
    client.SayHello({ name }, (err, reply) => resolve(err ? 'error ' + err.code : reply.message));
  });
}

function stream(name, count) {
  return new Promise((resolve, reject) => {
    const got = [];
    const call = client.SayHellos({ name, count });
    call.on('data', (r) => got.push(r.message));
    call.on('error', reject);
    call.on('end', () => resolve(got.length));
  });
}

(async () => {
  console.log(await unary('world'));
  console.log(await unary('missing'));
  console.log(await stream('stream', 3));
  client.close();
})();
