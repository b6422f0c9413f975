'use strict';
// What every Node peer script shares: the line protocol with the C++ test
// that drives it, and the guarantees that a peer never outlives its test.
//
// Events go to stdout as `TAG <json>` lines; commands come from stdin as
// `VERB <json>` lines. JSON on both sides, so channel names with spaces or
// non-ASCII text need no escaping rules of their own.

const readline = require('readline');

// socket.engine's servers never close on their own, so a peer whose test
// died or forgot it would otherwise run forever.
setTimeout(() => {
  process.stderr.write('peer: self-destruct after 20 s\n');
  process.exit(3);
}, 20000);

function emit(tag, payload) {
  // Writes to a pipe are synchronous on Linux, so a process.exit() right
  // after this cannot lose the line.
  process.stdout.write(payload === undefined ? `${tag}\n` : `${tag} ${JSON.stringify(payload)}\n`);
}

// Runs handlers[verb](payload) for each command line. EXIT is built in; a
// closed stdin means the test is gone, so the peer goes too.
function serve(handlers) {
  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  rl.on('line', (line) => {
    const space = line.indexOf(' ');
    const verb = space < 0 ? line : line.slice(0, space);
    if (verb === 'EXIT') process.exit(0);
    const handler = handlers[verb];
    if (!handler) {
      emit('ERROR', `unknown command ${verb}`);
      return;
    }
    try {
      handler(space < 0 ? undefined : JSON.parse(line.slice(space + 1)));
    } catch (err) {
      emit('ERROR', String(err && err.stack ? err.stack : err));
    }
  });
  rl.on('close', () => process.exit(0));
}

// Port 0 lets the OS choose, so parallel tests never collide; socket.engine
// passes it through to server.listen unchanged.
function onListening(server, callback) {
  if (server.listening) callback(server.address().port);
  else server.once('listening', () => callback(server.address().port));
}

module.exports = { emit, serve, onListening };
