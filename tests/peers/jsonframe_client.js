'use strict';
// Length-prefixed JSON-RPC over TCP, as the "jsonFrame" library frames it
// (npm package `jsonframe` by cPu1): each message is preceded
// by its byte length as a 1-, 2- or 4-byte big-endian unsigned integer.
// The framing is the library's own: `build()` writes frames and
// `jsonTransformer()` reads them. jsonframe's RPC client reads results from a
// non-standard `response` member instead of `result`, so single calls are
// matched by id here; its client is still used for what it does read
// correctly: errors and batches.
//
//   node jsonframe_client.js PORT PREFIX            (server started with --framing length-prefix-PREFIX)
//   node jsonframe_client.js PORT PREFIX oversize   only the check that an answer too large for
//                                                   the prefix does not take the connection down

const net = require('net');
const jsonFrame = require('jsonframe');
const { check, fail, run, outcome, calculatorChecks, batchRequests, checkBatch, arg } = require('./common');

const port = Number(arg(0, 'PORT 1|2|4'));
const prefix = Number(arg(1, 'PORT 1|2|4'));
const label = `jsonframe-${prefix}`;

// A request whose answer cannot be framed (a 1-byte prefix holds at most 255
// bytes): six unknown methods, a 230-byte frame whose answer is ~490 bytes.
// The connection must survive it: a call already in flight is still
// answered, and so is the next one.
async function oversize() {
  const frames = jsonFrame({ lengthPrefix: prefix });
  const socket = net.connect({ host: '127.0.0.1', port });
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let closed = false;
  socket.on('close', () => {
    closed = true;
  });
  socket.on('error', () => {});
  const reader = frames.jsonTransformer();
  socket.pipe(reader);
  const received = [];
  reader.on('data', (msg) => received.push(msg));
  const waitFor = async (pred, ms) => {
    const deadline = Date.now() + ms;
    while (!pred() && !closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  };
  socket.write(frames.build({ jsonrpc: '2.0', method: 'sleep', params: [300], id: 'in-flight' }));
  const batch = [];
  for (let i = 0; i < 6; i++) batch.push({ jsonrpc: '2.0', method: 'x', id: i });
  const frame = frames.build(batch);
  check(`${label}: the request itself fits in the frame`, frame.length - prefix <= 255, true);
  socket.write(frame);
  await waitFor(() => received.some((m) => m.id === 'in-flight'), 3000);
  check(
    `${label}: the call in flight is still answered after an answer too large for the frame`,
    received.filter((m) => m.id === 'in-flight').map(outcome),
    [{ result: 300 }],
  );
  if (!closed) socket.write(frames.build({ jsonrpc: '2.0', method: 'add', params: [1, 2], id: 'next' }));
  await waitFor(() => received.some((m) => m.id === 'next'), 3000);
  check(
    `${label}: the connection keeps serving`,
    received.filter((m) => m.id === 'next').map(outcome),
    [{ result: 3 }],
  );
  console.log(`(received: ${JSON.stringify(received)}; connection closed by the server: ${closed})`);
  socket.end();
}

run(async () => {
  if (process.argv[4] === 'oversize') {
    await oversize();
    return;
  }
  const frames = jsonFrame({ lengthPrefix: prefix });
  const socket = net.connect({ host: '127.0.0.1', port });
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const reader = frames.jsonTransformer();
  socket.pipe(reader);
  const received = [];
  const waiters = new Map();
  let batchWaiter = null;
  reader.on('parse error', (err) => fail(`${label}: server sent a frame that is not JSON`, err));
  reader.on('data', (msg) => {
    received.push(msg);
    if (Array.isArray(msg)) {
      if (batchWaiter) batchWaiter(msg);
      batchWaiter = null;
    } else if (msg && waiters.has(JSON.stringify(msg.id))) {
      const resolve = waiters.get(JSON.stringify(msg.id));
      waiters.delete(JSON.stringify(msg.id));
      resolve(msg);
    }
  });
  const send = (obj) => socket.write(frames.build(obj));
  let nextId = 1;
  const request = (method, params, id = nextId++) =>
    new Promise((resolve) => {
      waiters.set(JSON.stringify(id), resolve);
      send({ jsonrpc: '2.0', method, params, id });
    });

  await calculatorChecks(label, async (method, params) => outcome(await request(method, params)));

  // Lengths are byte counts, not character counts.
  check(`${label}: multi-byte UTF-8`, outcome(await request('greet', ['Zoë', 'Señor'])), {
    result: 'Hello, Señor Zoë!',
  });
  // Frames whose length needs every byte of the prefix.
  if (prefix >= 2) {
    const big = 'x'.repeat(prefix === 2 ? 60000 : 70000);
    check(`${label}: ${big.length}-byte string echoed`, outcome(await request('echo', [big])), { result: big });
  }
  // A frame split across TCP segments, the split inside the length prefix
  // for 2- and 4-byte prefixes.
  {
    const frame = frames.build({ jsonrpc: '2.0', method: 'add', params: [5, 6], id: 'split' });
    const answer = new Promise((resolve) => waiters.set('"split"', resolve));
    const cut = prefix === 1 ? 1 : prefix - 1;
    socket.write(frame.subarray(0, cut));
    await new Promise((r) => setTimeout(r, 100));
    socket.write(frame.subarray(cut, cut + 5));
    await new Promise((r) => setTimeout(r, 100));
    socket.write(frame.subarray(cut + 5));
    check(`${label}: frame split across segments`, outcome(await answer), { result: 11 });
  }
  // Several frames in one write.
  {
    const ids = ['m1', 'm2', 'm3'];
    const answers = ids.map((id) => new Promise((resolve) => waiters.set(JSON.stringify(id), resolve)));
    socket.write(
      Buffer.concat(ids.map((id, i) => frames.build({ jsonrpc: '2.0', method: 'add', params: [i, 10], id }))),
    );
    check(`${label}: three frames in one write`, (await Promise.all(answers)).map(outcome), [
      { result: 10 },
      { result: 11 },
      { result: 12 },
    ]);
  }

  // Notifications get no response.
  received.length = 0;
  send({ jsonrpc: '2.0', method: 'notify_hello', params: [1] });
  send({ jsonrpc: '2.0', method: 'notify_sum', params: { a: 1, b: 2, c: 3 } });
  send({ jsonrpc: '2.0', method: 'no_such_method' });
  check(`${label}: request after notifications`, outcome(await request('add', [1, 1], 'after')), { result: 2 });
  check(`${label}: notifications got no response`, received.length, 1);

  // Batch (as compact as possible for the 1-byte prefix's 255-byte limit).
  if (prefix === 1) {
    const batch = new Promise((resolve) => {
      batchWaiter = resolve;
    });
    send([
      { jsonrpc: '2.0', method: 'add', params: [1, 2], id: 1 },
      { jsonrpc: '2.0', method: 'notify_hello', params: [7] },
      { jsonrpc: '2.0', method: 'divide', params: [1, 0], id: 3 },
    ]);
    const responses = await batch;
    check(`${label} batch`, responses.map((r) => [r.id, outcome(r)]), [
      [1, { result: 3 }],
      [3, { error: { code: -32000, message: 'Division by zero' } }],
    ]);
  } else {
    const batch = new Promise((resolve) => {
      batchWaiter = resolve;
    });
    send(batchRequests());
    checkBatch(label, await batch);
  }

  // jsonframe's own RPC client, for what it reads per the specification.
  const client = frames.client({ host: '127.0.0.1', port, lengthPrefix: prefix });
  const err = await new Promise((resolve) => client.invoke('no_such_method', [1], (e) => resolve(e)));
  check(`${label}: jsonframe client sees -32601`, err && err.code, -32601);
  const divErr = await new Promise((resolve) => client.invoke('divide', { a: 1, b: 0 }, (e) => resolve(e)));
  check(`${label}: jsonframe client sees -32000`, divErr && divErr.code, -32000);
  const batchResponses = await new Promise((resolve) =>
    client.invoke(
      (b) => b.add('add', [2, 2]).notify('notify_hello', [1]).add('greet', { name: 'Al' }),
      (...responses) => resolve(responses),
    ),
  );
  check(`${label}: jsonframe client batch`, batchResponses.map(outcome), [{ result: 4 }, { result: 'Hello, Al!' }]);
  client.socket.end();
  socket.end();
});
