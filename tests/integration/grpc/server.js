// SPDX-License-Identifier: Apache-2.0
// gRPC server for test_proto_http2.py: node server.js PORT; prints "listening" when ready.
const path = require('path');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const def = loader.loadSync(path.join(__dirname, 'greeter.proto'));
const demo = grpc.loadPackageDefinition(def).demo;
const server = new grpc.Server();
server.addService(demo.Greeter.service, {
  SayHello(call, cb) {
    if (call.request.name === 'missing') {
      cb({ code: grpc.status.NOT_FOUND, details: 'no such user' });
      return;
    }
    cb(null, { message: 'hello ' + call.request.name });
  },
  SayHellos(call) {
    for (let i = 0; i < call.request.count; i++)
      call.write({ message: 'hello ' + call.request.name + ' #' + i });
    call.end();
  },
});
server.bindAsync('127.0.0.1:' + process.argv[2], grpc.ServerCredentials.createInsecure(),
  (err) => {
    if (err) { console.error(err); process.exit(1); }
    console.log('listening');
  });
