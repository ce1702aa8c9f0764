'use strict';
// The node `jayson` client (HTTP, TCP with newline-delimited messages, and
// WebSocket) calling the calculator example server.
//
//   node jayson_client.js http PORT   -> http://127.0.0.1:PORT/
//   node jayson_client.js tcp PORT    -> TCP, server started with --framing newline
//   node jayson_client.js ws PORT     -> ws://127.0.0.1:PORT/

const jayson = require('jayson/promise');
const { check, fail, run, outcome, calculatorChecks, batchRequests, checkBatch, arg } = require('./common');

const mode = arg(0, 'http|tcp|ws PORT');
const port = Number(arg(1, 'http|tcp|ws PORT'));

function makeClient() {
  switch (mode) {
    case 'http':
      return jayson.client.http({ host: '127.0.0.1', port, path: '/' });
    case 'tcp':
      return jayson.client.tcp({ host: '127.0.0.1', port });
    case 'ws':
      return jayson.client.websocket({ url: `ws://127.0.0.1:${port}/`, timeout: 5000 });
    default:
      console.error(`unknown mode ${mode}`);
      process.exit(2);
  }
}

run(async () => {
  const client = makeClient();
  if (mode === 'ws') {
    await new Promise((resolve, reject) => {
      client.ws.once('open', resolve);
      client.ws.once('error', reject);
    });
  }
  // The last HTTP status seen, to check notifications get 204.
  let lastStatus = null;
  client.on('http response', (res) => {
    lastStatus = res.statusCode;
  });

  const label = `jayson-${mode}`;
  await calculatorChecks(label, async (method, params) => outcome(await client.request(method, params)));

  // jayson's own id generator makes UUID string ids; an explicit numeric id
  // is echoed too.
  try {
    const response = await client.request('add', [2, 3], 77);
    check(`${label} explicit id echoed`, response.id, 77);
    check(`${label} explicit id result`, response.result, 5);
  } catch (err) {
    fail(`${label} explicit id`, err);
  }

  // Notifications: id null makes jayson send a request without an id.
  for (const [method, params] of [
    ['notify_hello', [7]],
    ['notify_sum', { a: 1, b: 2, c: 3 }],
    ['update', [1, 2, 3, 4, 5]],
  ]) {
    const name = `${label} notification ${method} ${JSON.stringify(params)}`;
    try {
      lastStatus = null;
      const response = await client.request(method, params, null);
      check(`${name}: no response`, response, undefined);
      if (mode === 'http') check(`${name}: HTTP 204`, lastStatus, 204);
    } catch (err) {
      fail(name, err);
    }
  }

  // Batch.
  try {
    checkBatch(label, await client.request(batchRequests()));
  } catch (err) {
    fail(`${label} batch`, err);
  }
  // A batch of notifications only: nothing comes back (HTTP 204).
  if (mode === 'http') {
    // (Only over HTTP: jayson's TCP and WebSocket clients wait for an answer
    // to any batch, and the server rightly sends none here.)
    try {
      lastStatus = null;
      const response = await client.request([
        client.request('notify_hello', [1], null, false),
        client.request('notify_sum', [1, 2, 3], null, false),
      ]);
      check(`${label} all-notification batch: no response`, response, undefined);
      if (mode === 'http') check(`${label} all-notification batch: HTTP 204`, lastStatus, 204);
    } catch (err) {
      fail(`${label} all-notification batch`, err);
    }
  }
  // After all that the server still answers.
  try {
    check(`${label} still serving`, outcome(await client.request('add', [40, 2])), { result: 42 });
  } catch (err) {
    fail(`${label} still serving`, err);
  }
  if (mode === 'ws') client.ws.close();
});
