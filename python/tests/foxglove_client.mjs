// A Foxglove WebSocket client that is not ours, for the tests of `socketengine
// view`: @foxglove/ws-protocol's FoxgloveClient on a socket from the `ws`
// package (Node 20 has no global WebSocket without a flag).
//
//   node foxglove_client.mjs URL TOPIC... [--count N] [--timeout S]
//
// Connects to URL offering subprotocol foxglove.websocket.v1, subscribes to
// each TOPIC once it is advertised and prints one JSON object a line on
// stdout for each thing that happens, in the order it happened:
//
//   {"event":"open","protocol":"foxglove.websocket.v1"}
//   {"event":"serverInfo", ...the message's fields but op}
//   {"event":"advertise","batch":B,"id":..,"topic":..,"encoding":..,"schemaName":..,
//    "schemaEncoding":..,"schema":..}        one a channel; B counts advertise messages from 1
//   {"event":"unadvertise","id":..}
//   {"event":"status","level":..,"message":..}
//   {"event":"subscribed","topic":..,"subscription":S}
//   {"event":"unsubscribed","topic":..,"subscription":S}
//   {"event":"message","topic":..,"subscription":S,"unsubscribed":false,"payload":..,
//    "timestamp_ns":T}
//
// A message's payload is its JSON, parsed; a foxglove.CompressedImage's
// `data` is replaced by {"bytes": n, "magic": "<its first 4 bytes in hex>"}.
// `unsubscribed` says the message came after this client asked to
// unsubscribe (it may have been on its way). timestamp_ns, the receive
// timestamp of messageData, is the exact integer, even beyond 2^53.
//
// Commands, one a line on stdin: `unsubscribe TOPIC`, `subscribe TOPIC`
// (now if advertised, else once it is).
//
// With --count N it ends with status 0 once N messages have come on each
// TOPIC of the command line; without, it runs until stopped. It ends with
// status 1 on any error (the connection refused or closed, no subprotocol
// agreed, a message that does not parse), 2 on bad usage and 3 when
// --timeout S seconds (default 20) pass first, saying why on stderr. The
// packages come from $SOCKETENGINE_FOXGLOVE_CLIENT_DIR/node_modules
// (scripts/setup-foxglove-client.sh installs them).

import { createRequire } from 'node:module';
import path from 'node:path';
import readline from 'node:readline';

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
const EXIT_TIMED_OUT = 3;
const USAGE = 'usage: foxglove_client.mjs URL TOPIC... [--count N] [--timeout S]';

function fail(status, message) {
  process.stderr.write(`foxglove_client: ${message}\n`);
  process.exit(status);
}

function parseArgs(argv) {
  const args = { url: null, topics: [], count: null, timeout: 20 };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    if (a === '--count' || a === '--timeout') {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v <= 0 || (a === '--count' && !Number.isInteger(v)))
        fail(EXIT_USAGE, `bad ${a} "${argv[i]}"`);
      args[a.slice(2)] = v;
    } else if (a.startsWith('--')) {
      fail(EXIT_USAGE, `unknown option ${a}`);
    } else if (args.url === null) {
      args.url = a;
    } else {
      args.topics.push(a);
    }
  }
  if (args.url === null) fail(EXIT_USAGE, USAGE);
  if (args.count !== null && args.topics.length === 0) fail(EXIT_USAGE, '--count needs a TOPIC');
  return args;
}

function loadPackages() {
  const dir = process.env.SOCKETENGINE_FOXGLOVE_CLIENT_DIR;
  if (!dir) {
    fail(EXIT_USAGE, 'SOCKETENGINE_FOXGLOVE_CLIENT_DIR is not set: run the tests through ' +
         'ctest, or set it to <build>/foxglove-client');
  }
  // Bare imports resolve from this file's directory, not from the build's,
  // so the packages are required from there.
  const require = createRequire(path.join(path.resolve(dir), 'package.json'));
  try {
    return {
      FoxgloveClient: require('@foxglove/ws-protocol').FoxgloveClient,
      WebSocket: require('ws'),
    };
  } catch (e) {
    fail(EXIT_USAGE, `cannot load @foxglove/ws-protocol and ws from ${dir} (build the ` +
         `foxglove_client target: it runs scripts/setup-foxglove-client.sh): ${e.message}`);
  }
}

// Writes to a pipe are synchronous on Linux, so a process.exit() right after
// this cannot lose the line. timestampNs (a BigInt) goes in as the bare
// integer, which JSON.stringify cannot write.
function emit(event, fields, timestampNs) {
  let line = JSON.stringify({ event, ...fields });
  if (timestampNs !== undefined) line = `${line.slice(0, -1)},"timestamp_ns":${timestampNs}}`;
  process.stdout.write(line + '\n');
}

function decodePayload(channel, data) {
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
  let payload;
  try {
    payload = JSON.parse(text);
  } catch (e) {
    throw new Error(`a message on ${channel.topic} (encoding ${channel.encoding}) is not ` +
                    `JSON (${e.message}): ${JSON.stringify(text.slice(0, 200))}`);
  }
  if (channel.schemaName === 'foxglove.CompressedImage' && typeof payload?.data === 'string') {
    const image = Buffer.from(payload.data, 'base64');
    payload.data = { bytes: image.length, magic: image.subarray(0, 4).toString('hex') };
  }
  return payload;
}

function main() {
  // Whoever read stdout has gone (a test that ended, `| head`): so do we.
  process.stdout.on('error', () => process.exit(EXIT_FAILED));
  const args = parseArgs(process.argv.slice(2));
  const { FoxgloveClient, WebSocket } = loadPackages();

  const channels = new Map(); // id -> channel, as advertised
  const wanted = new Set(args.topics); // to subscribe to once advertised
  const subscriptions = new Map(); // subscription id -> { topic, channelId, active }
  const counts = new Map(args.topics.map((t) => [t, 0]));
  let batches = 0;

  const timer = setTimeout(() => {
    const got = [...counts].map(([t, n]) => `${n} on ${t}`).join(', ');
    fail(EXIT_TIMED_OUT, `timed out after ${args.timeout} s` + (args.count === null ? '' :
         `: wanted ${args.count} messages on each topic, got ${got}`));
  }, args.timeout * 1000);

  const ws = new WebSocket(args.url, [FoxgloveClient.SUPPORTED_SUBPROTOCOL]);
  const client = new FoxgloveClient({ ws });

  const activeSubscription = (topic) =>
    [...subscriptions].find(([, s]) => s.active && s.topic === topic);

  function subscribe(channel) {
    if (activeSubscription(channel.topic)) return;
    const id = client.subscribe(channel.id);
    subscriptions.set(id, { topic: channel.topic, channelId: channel.id, active: true });
    emit('subscribed', { topic: channel.topic, subscription: id });
  }

  client.on('open', () => emit('open', { protocol: ws.protocol }));
  client.on('error', (e) => fail(EXIT_FAILED, `error: ${e.message}`));
  client.on('close', (e) => {
    fail(EXIT_FAILED, `the server closed the connection (code ${e.code}` +
         (e.reason ? `, reason "${e.reason}"` : '') + ')');
  });
  client.on('serverInfo', ({ op, ...fields }) => emit('serverInfo', fields));
  client.on('status', ({ level, message }) => emit('status', { level, message }));
  client.on('advertise', (advertised) => {
    ++batches;
    for (const c of advertised) {
      channels.set(c.id, c);
      emit('advertise', {
        batch: batches, id: c.id, topic: c.topic, encoding: c.encoding,
        schemaName: c.schemaName, schemaEncoding: c.schemaEncoding, schema: c.schema,
      });
    }
    for (const c of advertised) if (wanted.has(c.topic)) subscribe(c);
  });
  client.on('unadvertise', (ids) => {
    for (const id of ids) {
      channels.delete(id);
      emit('unadvertise', { id });
    }
  });
  client.on('message', ({ subscriptionId, timestamp, data }) => {
    const s = subscriptions.get(subscriptionId);
    if (!s) fail(EXIT_FAILED, `a message for subscription ${subscriptionId}, never made`);
    const channel = channels.get(s.channelId) ?? { topic: s.topic, encoding: '?' };
    let payload;
    try {
      payload = decodePayload(channel, data);
    } catch (e) {
      fail(EXIT_FAILED, e.message);
    }
    emit('message', {
      topic: s.topic, subscription: subscriptionId, unsubscribed: !s.active, payload,
    }, timestamp);
    if (!s.active || !counts.has(s.topic)) return;
    counts.set(s.topic, counts.get(s.topic) + 1);
    if (args.count !== null && [...counts.values()].every((n) => n >= args.count)) {
      clearTimeout(timer);
      client.close();
      process.exit(0);
    }
  });

  readline.createInterface({ input: process.stdin, terminal: false }).on('line', (line) => {
    const [verb, topic] = line.trim().split(/\s+/, 2);
    if (!verb) return;
    if (verb === 'subscribe' && topic) {
      wanted.add(topic);
      const channel = [...channels.values()].find((c) => c.topic === topic);
      if (channel) subscribe(channel);
    } else if (verb === 'unsubscribe' && topic) {
      wanted.delete(topic);
      const found = activeSubscription(topic);
      if (!found) fail(EXIT_USAGE, `unsubscribe ${topic}: not subscribed to it`);
      const [id, s] = found;
      client.unsubscribe(id);
      s.active = false;
      emit('unsubscribed', { topic, subscription: id });
    } else {
      fail(EXIT_USAGE, `bad command "${line}" (subscribe TOPIC or unsubscribe TOPIC)`);
    }
  });
}

main();
