'use strict';
// A socket.engine 0.3.0 client, driven by a C++ test.
//
//   node node_client.js PORT           connect to 127.0.0.1:PORT
//
// Events:   CONNECTED, GOT {channel, data}, VALUE {channel, data}, CLOSED,
//           WARNING <text>
// Commands: WRITE {channel, data}, GET <channel>, EXIT

const { client } = require('socket.engine');
const { emit, serve } = require('./peer_common.js');

const port = Number(process.argv[2]);
if (!port) {
  process.stderr.write('usage: node_client.js PORT\n');
  process.exit(2);
}

const c = new client('127.0.0.1', port);
c.on('connected', () => emit('CONNECTED'));
c.on('data', (msg) => emit('GOT', { channel: msg.type, data: msg.data }));
c.on('warning', (err) => emit('WARNING', String(err)));
c.socket.on('close', () => emit('CLOSED'));
// start() connects asynchronously; writes made before the connection is up
// are buffered by the socket.
c.start();

serve({
  WRITE: ({ channel, data }) => c.write(channel, data),
  // JSON has no undefined: a channel never written reads as null.
  GET: (channel) => emit('VALUE', { channel, data: c.get(channel) ?? null }),
});
