'use strict';
// The node `json-rpc2` client calling the calculator example server.
//
//   node json_rpc2_client.js http PORT  -> HTTP POST; json-rpc2 sends no Content-Type header
//   node json_rpc2_client.js tcp PORT   -> its raw socket client: JSON values written back to
//                                          back with no delimiter (server framing newline)

const rpc = require('json-rpc2');
const { check, fail, run, calculatorChecks, arg } = require('./common');

const mode = arg(0, 'http|tcp PORT');
const port = Number(arg(1, 'http|tcp PORT'));

// json-rpc2 calls back with (error object or null/undefined, result).
const toOutcome = (resolve) => (err, result) => {
  if (err) {
    resolve(typeof err === 'object' ? { error: { code: err.code, message: err.message } } : { error: String(err) });
  } else {
    resolve({ result });
  }
};

async function http(client) {
  // HTTP `call` sends the params value as given, so both styles go through it.
  await calculatorChecks('json-rpc2-http', (method, params) => new Promise((resolve) => client.call(method, params, toOutcome(resolve))));
}

async function tcp(client) {
  const conn = await new Promise((resolve, reject) => {
    client.connectSocket((err, c) => (err ? reject(err) : resolve(c)));
  });
  const socket = conn.conn;
  // Record what the library writes and what the server answers.
  const written = [];
  const originalWrite = socket.write.bind(socket);
  socket.write = (chunk, ...rest) => {
    written.push(String(chunk));
    return originalWrite(chunk, ...rest);
  };
  let raw = '';
  socket.on('data', (chunk) => {
    raw += chunk.toString('utf8');
  });

  // The library's `call` wraps any non-array params in an array, so named
  // params go through the same connection, with the same id bookkeeping as
  // `call`, without that wrapping.
  const call = (method, params) =>
    new Promise((resolve) => {
      if (Array.isArray(params)) {
        conn.call(method, params, toOutcome(resolve));
      } else {
        const id = ++conn.latestId;
        conn.callbacks[id] = toOutcome(resolve);
        conn.write(JSON.stringify({ jsonrpc: '2.0', method, params, id }));
      }
    });

  await calculatorChecks('json-rpc2-tcp', call);
  check(
    'json-rpc2-tcp: the library writes bare JSON values (no newline delimiter)',
    written.length > 0 && written.every((w) => !w.endsWith('\n')),
    true,
  );

  // Several requests in one TCP segment, concatenated with nothing between
  // them ("{...}{...}{...}"): cork the socket so the writes go out together.
  written.length = 0;
  socket.cork();
  const burst = [
    call('add', [1, 2]),
    call('subtract', { minuend: 10, subtrahend: 4 }),
    call('greet', ['Bo', 'Ms']),
    call('math.multiply', [3, 5]),
  ];
  process.nextTick(() => socket.uncork());
  check('json-rpc2-tcp: concatenated requests', await Promise.all(burst), [
    { result: 3 },
    { result: 6 },
    { result: 'Hello, Ms Bo!' },
    { result: 15 },
  ]);
  check('json-rpc2-tcp: the burst was written back to back', written.join('').includes('}{'), true);

  // `call` without a callback sends "id": null. That is a request, not a
  // notification (JSON-RPC 2.0 section 4), so the server must answer it with
  // "id": null. The library itself ignores that answer.
  raw = '';
  conn.call('add', [20, 22]);
  check('json-rpc2-tcp: request after id-null request', await call('add', [1, 1]), { result: 2 });
  const deadline = Date.now() + 3000;
  while (!/"id":null/.test(raw) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const nullAnswer = raw
    .split('\n')
    .filter((l) => l.includes('"id":null'))
    .map((l) => JSON.parse(l));
  check('json-rpc2-tcp: "id": null request answered with "id": null', nullAnswer, [
    { jsonrpc: '2.0', result: 42, id: null },
  ]);

  // A real notification (no id member) gets nothing back.
  raw = '';
  conn.write(JSON.stringify({ jsonrpc: '2.0', method: 'notify_hello', params: [1] }));
  check('json-rpc2-tcp: request after notification', await call('add', [2, 2]), { result: 4 });
  check('json-rpc2-tcp: notification got no response', raw.trim().split('\n').length, 1);

  conn.end();
}

run(async () => {
  const client = rpc.Client.$create(port, '127.0.0.1');
  if (mode === 'http') await http(client);
  else if (mode === 'tcp') await tcp(client);
  else {
    console.error(`unknown mode ${mode}`);
    process.exit(2);
  }
});
