'use strict';
// The node `json-rpc2` server over WebSocket, for OUR generated client to
// call. It answers successes as {"result": ..., "error": null, ...}: the
// "error": null our client must read as absent.
//
//   node json_rpc2_server.js   -> WebSocket on ws://127.0.0.1:PORT/
//
// Prints "listening PORT" on stdout; exits when stdin closes.

const rpc = require('json-rpc2');

const server = rpc.Server.$create({ websocket: true });

// json-rpc2 hands the params value as sent (array or object).
const positional = (names) => (params) =>
  Array.isArray(params) ? params : names.map((n) => (params || {})[n]);

const methods = {
  add: [['a', 'b'], (a, b) => a + b],
  subtract: [['minuend', 'subtrahend'], (m, s) => m - s],
  greet: [['name', 'title'], (name, title) => (title ? `Hello, ${title} ${name}!` : `Hello, ${name}!`)],
  echo: [['value'], (value) => value],
};

for (const [name, [names, fn]] of Object.entries(methods)) {
  const args = positional(names);
  server.expose(name, (params, _opt, callback) => callback(null, fn(...args(params))));
}
server.expose('divide', (params, _opt, callback) => {
  const [a, b] = positional(['a', 'b'])(params);
  if (b === 0) callback({ code: -32000, message: 'Division by zero' });
  else callback(null, a / b);
});

const http = server.listen();
http.listen(0, '127.0.0.1', () => console.log(`listening ${http.address().port}`));

process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
