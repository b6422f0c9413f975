'use strict';
// A socket.engine 0.3.0 host on 127.0.0.1, driven by a C++ test.
//
//   node node_host.js
//
// Events:   READY <port>, CLIENT <count>, GOT {client, channel, data},
//           CLOSED {client}, ALL {channel, values}, WARNING <text>
// Commands: WRITE {channel, data}, GET_ALL <channel>, EXIT
//
// Like the hub, the host re-reads its whole receive buffer on every read,
// so GOT repeats earlier messages.

const { host } = require('socket.engine');
const { emit, serve, onListening } = require('./peer_common.js');

const h = new host('127.0.0.1', 0);

// Added after the host's own 'connection' listener, so the host has already
// listed the client when this runs.
h.server.on('connection', (socket) => {
  const clients = h.getClients();
  const index = clients.length - 1;
  const c = clients[index];
  emit('CLIENT', clients.length);
  c.on('data', (msg) => emit('GOT', { client: index, channel: msg.type, data: msg.data }));
  c.on('warning', (err) => emit('WARNING', String(err)));
  socket.on('close', () => emit('CLOSED', { client: index }));
});

h.start();
onListening(h.server, (port) => emit('READY', port));

serve({
  WRITE: ({ channel, data }) => h.write_ALL(channel, data),
  GET_ALL: (channel) => emit('ALL', { channel, values: h.get_ALL(channel) }),
});
