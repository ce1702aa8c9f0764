'use strict';
// A `vscode-jsonrpc` server on this process's stdin/stdout (Content-Length
// framing), for the calculator's `call 'exec:node vscode_jsonrpc_server.js'`:
// `subtract` by position or by name, `fail` (an error), `nothing` (null),
// and `whoami`, which calls back the client's `peer_name` first.

const rpc = require('vscode-jsonrpc/node');

const connection = rpc.createMessageConnection(
  new rpc.StreamMessageReader(process.stdin),
  new rpc.StreamMessageWriter(process.stdout),
);

// Generic handlers get the params spread, then a cancellation token.
function values(args) {
  return args.filter((a) => !rpc.CancellationToken.is(a));
}

connection.onRequest('subtract', (...args) => {
  const params = values(args);
  if (params.length === 1 && typeof params[0] === 'object' && !Array.isArray(params[0])) {
    return params[0].minuend - params[0].subtrahend;
  }
  return params[0] - params[1];
});
connection.onRequest('fail', () => {
  throw new rpc.ResponseError(-32050, 'failed on purpose', { why: 'asked' });
});
connection.onRequest('nothing', () => null);
connection.listen();
process.stdin.on('end', () => process.exit(0));
