'use strict';
// An independent JSON-RPC server for OUR generated client to call: the node
// `jayson` server, serving methods with the calculator's names.
//
//   node jayson_server.js http         -> HTTP POST on http://127.0.0.1:PORT/
//   node jayson_server.js tcp          -> TCP, newline-delimited (jayson's framing)
//   node jayson_server.js ws           -> WebSocket on ws://127.0.0.1:PORT/
//   node jayson_server.js jsonframe-N  -> TCP with the "jsonFrame" library's
//                                         N-byte big-endian length prefix (N = 1, 2, 4):
//                                         jayson's dispatcher behind jsonframe's own
//                                         frame reader/writer (jsonframe's RPC server
//                                         answers with a non-standard `response`
//                                         member, so only its framing is used)
//
// Listens on an ephemeral port and prints "listening PORT" on stdout.
// Exits when stdin closes, so it cannot outlive the test that started it.

const net = require('net');
const jayson = require('jayson');
const jsonFrame = require('jsonframe');

const mode = process.argv[2];

// Binds a handler to parameter names, accepting positional and named params.
// `optional` is how many trailing parameters may be left out.
function method(names, optional, fn) {
  return function (params, callback) {
    let args;
    if (params === undefined) args = [];
    else if (Array.isArray(params)) args = params;
    else args = names.map((n) => params[n]);
    const required = names.length - optional;
    const given = args.filter((a) => a !== undefined).length;
    if (args.length > names.length || given < required) {
      callback({ code: -32602, message: `Invalid params: expected ${names.join(', ')}` });
      return;
    }
    try {
      const result = fn(...args);
      if (result && typeof result.then === 'function') {
        result.then((v) => callback(null, v), (e) => callback(e));
      } else {
        callback(null, result);
      }
    } catch (err) {
      callback(err && err.code ? err : { code: -32603, message: String(err) });
    }
  };
}

const notificationsSeen = [];

const server = new jayson.Server({
  add: method(['a', 'b'], 0, (a, b) => a + b),
  subtract: method(['minuend', 'subtrahend'], 0, (m, s) => m - s),
  greet: method(['name', 'title'], 1, (name, title) => (title ? `Hello, ${title} ${name}!` : `Hello, ${name}!`)),
  divide: method(['a', 'b'], 0, (a, b) => {
    if (b === 0) throw { code: -32000, message: 'Division by zero' };
    return a / b;
  }),
  get_data: method([], 0, () => ['hello', 5]),
  echo: method(['value'], 0, (value) => value),
  sleep: method(['ms'], 0, (ms) => new Promise((resolve) => setTimeout(() => resolve(ms), ms))),
  'math.multiply': method(['a', 'b'], 0, (a, b) => a * b),
  notify_hello: method(['n'], 0, (n) => {
    notificationsSeen.push(['notify_hello', n]);
  }),
  notifications_seen: method([], 0, () => notificationsSeen),
  fail_with_data: method([], 0, () => {
    throw { code: 4000, message: 'custom failure', data: { why: 'because' } };
  }),
});

function listening(address) {
  console.log(`listening ${address.port}`);
}

switch (mode) {
  case 'http': {
    const http = server.http();
    http.listen(0, '127.0.0.1', () => listening(http.address()));
    break;
  }
  case 'tcp': {
    const tcp = server.tcp();
    tcp.listen(0, '127.0.0.1', () => listening(tcp.address()));
    break;
  }
  case 'ws': {
    const wss = server.websocket({ host: '127.0.0.1', port: 0 });
    wss.on('listening', () => listening(wss.address()));
    break;
  }
  case 'jsonframe-1':
  case 'jsonframe-2':
  case 'jsonframe-4': {
    const frames = jsonFrame({ lengthPrefix: Number(mode.slice(-1)) });
    const tcp = net.createServer((socket) => {
      socket.on('error', () => {});
      const reader = frames.jsonTransformer();
      socket.pipe(reader);
      reader.on('data', (message) => {
        server.call(message, (error, success) => {
          const response = error || success;
          if (response) socket.write(frames.build(response));
        });
      });
      reader.on('parse error', () => {
        socket.write(frames.build({ jsonrpc: '2.0', error: { code: -32700, message: 'Parse error' }, id: null }));
      });
    });
    tcp.listen(0, '127.0.0.1', () => listening(tcp.address()));
    break;
  }
  default:
    console.error('usage: node jayson_server.js http|tcp|ws|jsonframe-1|jsonframe-2|jsonframe-4');
    process.exit(2);
}

process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
