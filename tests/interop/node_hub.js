'use strict';
// A socket.engine 0.3.0 hub, driven by a C++ test.
//
//   node node_hub.js listen [PORT]      wait for peers to dial in (on PORT, or
//                                       one the system chooses)
//   node node_hub.js dial NAME PORT     also dial 127.0.0.1:PORT as NAME
//
// Events:   READY <port>, CONNECTION {type}, CONNECTED,
//           GOT {name, channel, data}, CLOSED {name, opened, stopped},
//           ALL {channel, values}, STATE {connections}, CLOSED_HUB, WARNING <text>
// Commands: WRITE {channel, data}, WRITE_IMG <base64 PNG>, GET_ALL <channel>,
//           STATE, CLOSE, EXIT
//
// The hub re-reads its whole receive buffer on every socket read, so GOT
// repeats earlier messages; a reader looks for the line it wants.

const { hub } = require('socket.engine');
const { emit, serve, onListening } = require('./peer_common.js');

const [mode, name, port] = process.argv.slice(2);
if (mode !== 'listen' && !(mode === 'dial' && name && port)) {
  process.stderr.write('usage: node_hub.js listen [PORT] | dial NAME PORT\n');
  process.exit(2);
}

// In listen mode the second argument, if any, is the port.
const h = new hub(mode === 'listen' && name ? Number(name) : 0);

h.on('connection', (c) => {
  emit('CONNECTION', { type: c.type });
  c.on('connected', () => emit('CONNECTED'));
  c.on('data', (msg) => emit('GOT', { name: c.name, channel: msg.type, data: msg.data }));
  c.on('warning', (err) => emit('WARNING', String(err)));
  // `stopped` is set only when the hub closes the connection itself, which
  // on a peer's `__status`/`__closing` is how the test tells that line was
  // understood, rather than the socket merely hitting EOF.
  c.socket.on('close', () =>
    emit('CLOSED', { name: c.name, opened: c.opened, stopped: c.stopped }));
});

onListening(h.server, (listening) => {
  // Dial only once listening, so READY always comes first.
  emit('READY', listening);
  if (mode === 'dial') h.connect(name, '127.0.0.1', Number(port));
});

serve({
  // The hub's connection.write calls data.replace: strings only.
  WRITE: ({ channel, data }) => h.write_all(channel, data),
  // writeImg sends the string as given, and only while canWrite.
  WRITE_IMG: (data) => h.write_image_all(data),
  GET_ALL: (channel) => emit('ALL', { channel, values: h.get_all(channel) }),
  STATE: () =>
    emit('STATE', {
      connections: h.getConnections().map((c) => ({
        name: c.name, type: c.type, opened: c.opened, stopped: c.stopped, canWrite: c.canWrite,
      })),
    }),
  CLOSE: () => {
    h.close();
    emit('CLOSED_HUB');
  },
});
