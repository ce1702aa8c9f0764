'use strict';
// VS Code's own JSON-RPC library, `vscode-jsonrpc`, as a client of the
// calculator example with LSP's Content-Length framing:
//
//   node vscode_jsonrpc_client.js stdio CALCULATOR  -> spawns `CALCULATOR serve --stdio --framing content-length`
//   node vscode_jsonrpc_client.js tcp PORT          -> a server started with --tcp ... --framing content-length
//   node vscode_jsonrpc_client.js unix PATH         -> a server started with --unix PATH --framing content-length
//
// Positional and named params, errors, `null` results, the server's
// notifications, cancellation through a CancellationToken (`$/cancelRequest`,
// answered -32800), and 50 requests at once.

const net = require('net');
const { spawn } = require('child_process');
const rpc = require('vscode-jsonrpc/node');
const { check, fail, run, calculatorChecks, arg } = require('./common');

const mode = arg(0, 'stdio CALCULATOR | tcp PORT | unix PATH');
const target = arg(1, 'stdio CALCULATOR | tcp PORT | unix PATH');

async function open() {
  if (mode === 'stdio') {
    const child = spawn(target, ['serve', '--stdio', '--framing', 'content-length'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const connection = rpc.createMessageConnection(
      new rpc.StreamMessageReader(child.stdout),
      new rpc.StreamMessageWriter(child.stdin),
    );
    return { connection, child };
  }
  const socket = await new Promise((resolve, reject) => {
    const s = mode === 'tcp' ? net.connect(Number(target), '127.0.0.1') : net.connect(target);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
  const connection = rpc.createMessageConnection(
    new rpc.SocketMessageReader(socket),
    new rpc.SocketMessageWriter(socket),
  );
  return { connection, socket };
}

// One request in vscode-jsonrpc's own terms; resolves to {result} or {error}.
async function call(connection, method, params, token) {
  try {
    let result;
    if (Array.isArray(params)) {
      result = token
        ? await connection.sendRequest(method, rpc.ParameterStructures.byPosition, ...params, token)
        : await connection.sendRequest(method, rpc.ParameterStructures.byPosition, ...params);
    } else {
      result = await connection.sendRequest(method, rpc.ParameterStructures.byName, params);
    }
    return { result: result === undefined ? null : result };
  } catch (e) {
    if (e instanceof rpc.ResponseError) return { error: { code: e.code, message: e.message } };
    throw e;
  }
}

run(async () => {
  const { connection, child, socket } = await open();
  const ticks = [];
  connection.onNotification('tick', (...args) => ticks.push(args));
  connection.listen();

  await calculatorChecks(`vscode-jsonrpc ${mode}`, (method, params) => call(connection, method, params));

  // A method that returns nothing answers `null`.
  check(`${mode} update answers null`, await call(connection, 'update', [1, 2, 3, 4, 5]), { result: null });

  // The server's notifications reach the client's handlers.
  check(`${mode} notify_me`, await call(connection, 'notify_me', [3]), { result: 3 });
  const deadline = Date.now() + 5000;
  while (ticks.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  check(`${mode} three tick notifications`, ticks.length, 3);

  // Cancellation: the token sends `$/cancelRequest`; the call ends -32800.
  const source = new rpc.CancellationTokenSource();
  const started = Date.now();
  const slow = call(connection, 'sleep', [30000], source.token);
  setTimeout(() => source.cancel(), 200);
  const cancelled = await slow;
  check(`${mode} cancelled sleep answers -32800`, cancelled.error && cancelled.error.code, -32800);
  check(`${mode} cancelled well before 30 s`, Date.now() - started < 10000, true);

  // 50 requests at once, each answered with its own result.
  const many = await Promise.all(
    Array.from({ length: 50 }, (_, i) => call(connection, 'add', [i, 1000])),
  );
  check(`${mode} 50 concurrent adds`, many.map((o) => o.result), Array.from({ length: 50 }, (_, i) => i + 1000));

  connection.dispose();
  if (socket) socket.destroy();
  if (child) {
    child.stdin.end();
    const code = await new Promise((resolve) => child.once('exit', resolve));
    check(`${mode} the server exits 0 once its stdin closes`, code, 0);
  }
}, 60000);
