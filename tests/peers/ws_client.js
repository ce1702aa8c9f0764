'use strict';
// The node `ws` package sending raw JSON-RPC text frames to the calculator
// example's WebSocket endpoint (ws://127.0.0.1:PORT/, the HTTP port).
//
//   node ws_client.js PORT

const WebSocket = require('ws');
const { check, fail, run, outcome, calculatorChecks, batchRequests, checkBatch, arg } = require('./common');

const port = Number(arg(0, 'PORT'));

run(async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });

  // Every message as received (raw text), and waiters keyed by id.
  const received = [];
  const waiters = new Map();
  let batchWaiter = null;
  ws.on('message', (data, isBinary) => {
    const text = data.toString('utf8');
    received.push({ text, isBinary });
    let msg;
    try {
      msg = JSON.parse(text);
    } catch (err) {
      fail(`ws: server sent invalid JSON ${text}`, err);
      return;
    }
    if (Array.isArray(msg)) {
      if (batchWaiter) batchWaiter(msg);
      batchWaiter = null;
    } else if (msg && 'id' in msg && waiters.has(JSON.stringify(msg.id))) {
      const resolve = waiters.get(JSON.stringify(msg.id));
      waiters.delete(JSON.stringify(msg.id));
      resolve(msg);
    }
  });
  let nextId = 1;
  const send = (obj) => ws.send(JSON.stringify(obj));
  const request = (method, params, id = nextId++) =>
    new Promise((resolve) => {
      waiters.set(JSON.stringify(id), resolve);
      const req = { jsonrpc: '2.0', method, id };
      if (params !== undefined) req.params = params;
      send(req);
    });

  await calculatorChecks('ws', async (method, params) => outcome(await request(method, params)));

  // Frames are text frames.
  check('ws: responses travel as text frames', received.every((m) => !m.isBinary), true);

  // Notifications (even failing ones) get no response: the next message is
  // the answer to the request sent after them.
  received.length = 0;
  send({ jsonrpc: '2.0', method: 'notify_hello', params: [1] });
  send({ jsonrpc: '2.0', method: 'update', params: [1, 2, 3, 4, 5] });
  send({ jsonrpc: '2.0', method: 'no_such_method', params: [1] });
  send({ jsonrpc: '2.0', method: 'add', params: ['not', 'numbers'] });
  const after = await request('add', [1, 1], 'after-notifications');
  check('ws: notifications get no response', received.length, 1);
  check('ws: request after notifications', outcome(after), { result: 2 });

  // Ids of every allowed kind are echoed exactly (checked on the raw text,
  // since JavaScript numbers cannot hold 2^64).
  for (const [idText, label] of [
    ['"abc"', 'string'],
    ['-7', 'negative'],
    ['1.5', 'fractional'],
    ['18446744073709551617', 'beyond 2^64'],
    ['null', 'null (a request, not a notification)'],
  ]) {
    received.length = 0;
    const got = new Promise((resolve) => {
      const onMessage = (data) => {
        ws.off('message', onMessage);
        resolve(data.toString('utf8'));
      };
      ws.on('message', onMessage);
    });
    ws.send(`{"jsonrpc":"2.0","method":"add","params":[20,22],"id":${idText}}`);
    const text = await got;
    let msg = {};
    try {
      msg = JSON.parse(text);
    } catch (_) {
      /* reported below */
    }
    check(`ws: id ${label} echoed exactly`, text.includes(`"id":${idText}`), true);
    check(`ws: id ${label} result`, msg.result, 42);
  }

  // Batch.
  const batch = new Promise((resolve) => {
    batchWaiter = resolve;
  });
  send(batchRequests());
  checkBatch('ws', await batch);

  // No head-of-line blocking: a slow call sent first is answered last.
  received.length = 0;
  const slow = request('sleep', [400], 'slow');
  const fast = request('add', [1, 2], 'fast');
  const [slowResponse, fastResponse] = await Promise.all([slow, fast]);
  check('ws: slow call result', outcome(slowResponse), { result: 400 });
  check('ws: fast call result', outcome(fastResponse), { result: 3 });
  check(
    'ws: fast call answered before the slow one',
    received.map((m) => JSON.parse(m.text).id),
    ['fast', 'slow'],
  );

  // Server-to-client notifications: notify_me(3) sends tick [0], [1], [2].
  received.length = 0;
  const ticks = await request('notify_me', [3], 'ticks');
  check('ws: notify_me result', outcome(ticks), { result: 3 });
  check(
    'ws: tick notifications before the result',
    received.slice(0, 3).map((m) => JSON.parse(m.text)),
    [0, 1, 2].map((i) => ({ jsonrpc: '2.0', method: 'tick', params: [i] })),
  );

  ws.close();
});
