'use strict';
// Shared helpers for the node peer scripts that tests/interop.rs runs.
//
// Each script prints one line per check ("ok ..." or "FAIL ...") and exits 0
// only when every check passed. A watchdog ends a stuck script with exit 3,
// so a hang on either side shows up as a failure, never as a stuck test.

const assert = require('assert');

let failures = 0;
let passes = 0;

function check(name, actual, expected) {
  try {
    assert.deepStrictEqual(actual, expected);
    passes += 1;
    console.log(`ok   ${name}`);
  } catch (_) {
    failures += 1;
    console.log(
      `FAIL ${name}\n     expected: ${JSON.stringify(expected)}\n     actual:   ${JSON.stringify(actual)}`,
    );
  }
}

function fail(name, err) {
  failures += 1;
  console.log(`FAIL ${name}: ${err && err.stack ? err.stack : err}`);
}

// Runs `body`, then exits with 0 when all checks passed, 1 otherwise.
function run(body, timeoutMs = 20000) {
  const watchdog = setTimeout(() => {
    console.log(`FAIL watchdog: the script did not finish within ${timeoutMs} ms (${passes} checks passed before)`);
    process.exit(3);
  }, timeoutMs);
  Promise.resolve()
    .then(body)
    .catch((err) => fail('uncaught', err))
    .then(() => {
      clearTimeout(watchdog);
      console.log(`${passes} passed, ${failures} failed`);
      process.exit(failures === 0 ? 0 : 1);
    });
}

// Reduces a response (or a client library's view of it) to what the checks
// compare: {result} or {error: {code, message}}.
function outcome(response) {
  if (response === undefined || response === null) return { none: true };
  if (response.error !== undefined && response.error !== null) {
    return { error: { code: response.error.code, message: response.error.message } };
  }
  return { result: response.result };
}

const DIV_BY_ZERO = { error: { code: -32000, message: 'Division by zero' } };

// The calculator checks every client runs in both parameter styles.
// `call(method, params)` sends one request and resolves to `outcome(...)`.
async function calculatorChecks(label, call) {
  const cases = [
    ['subtract', [42, 23], { minuend: 42, subtrahend: 23 }, { result: 19 }],
    ['subtract', [23, 42], { subtrahend: 42, minuend: 23 }, { result: -19 }],
    ['add', [1, 2], { a: 1, b: 2 }, { result: 3 }],
    ['greet', ['Ann'], { name: 'Ann' }, { result: 'Hello, Ann!' }],
    ['greet', ['Ann', 'Dr'], { name: 'Ann', title: 'Dr' }, { result: 'Hello, Dr Ann!' }],
    ['divide', [7, 2], { a: 7, b: 2 }, { result: 3.5 }],
    ['divide', [1, 0], { a: 1, b: 0 }, DIV_BY_ZERO],
    ['get_data', [], {}, { result: ['hello', 5] }],
    ['math.multiply', [6, 7], { a: 6, b: 7 }, { result: 42 }],
    ['echo', [{ k: [1, 'two', null] }], { value: { k: [1, 'two', null] } }, { result: { k: [1, 'two', null] } }],
  ];
  for (const [method, positional, named, expected] of cases) {
    for (const [style, params] of [
      ['positional', positional],
      ['named', named],
    ]) {
      const name = `${label} ${method} ${style} ${JSON.stringify(params)}`;
      try {
        check(name, await call(method, params), expected);
      } catch (err) {
        fail(name, err);
      }
    }
  }
  const errors = [
    ['no_such_method', [1], -32601],
    ['no_such_method', { a: 1 }, -32601],
    ['add', [1], -32602],
    ['add', { a: 1 }, -32602],
    ['add', ['x', 1], -32602],
  ];
  for (const [method, params, code] of errors) {
    const name = `${label} ${method} ${JSON.stringify(params)} -> error ${code}`;
    try {
      const got = await call(method, params);
      check(name, got.error && got.error.code, code);
    } catch (err) {
      fail(name, err);
    }
  }
}

// A batch every client sends: requests in both styles, notifications, an
// error, an unknown method. Responses come back for requests only.
function batchRequests() {
  return [
    { jsonrpc: '2.0', method: 'add', params: [1, 2], id: 1 },
    { jsonrpc: '2.0', method: 'notify_hello', params: [7] },
    { jsonrpc: '2.0', method: 'subtract', params: { minuend: 42, subtrahend: 23 }, id: '2' },
    { jsonrpc: '2.0', method: 'notify_sum', params: [1, 2, 4] },
    { jsonrpc: '2.0', method: 'divide', params: [1, 0], id: 3 },
    { jsonrpc: '2.0', method: 'foo.get', params: { name: 'myself' }, id: 5 },
    { jsonrpc: '2.0', method: 'get_data', id: 9 },
  ];
}

// Checks a batch response against `batchRequests()`, in any order.
function checkBatch(label, responses) {
  if (!Array.isArray(responses)) {
    check(`${label} batch response is an array`, responses, '[array]');
    return;
  }
  const byId = {};
  for (const r of responses) byId[JSON.stringify(r.id)] = outcome(r);
  check(`${label} batch: one response per request, none for notifications`, responses.length, 5);
  check(`${label} batch add`, byId['1'], { result: 3 });
  check(`${label} batch subtract (string id)`, byId['"2"'], { result: 19 });
  check(`${label} batch divide by zero`, byId['3'], DIV_BY_ZERO);
  check(`${label} batch unknown method`, byId['5'] && byId['5'].error && byId['5'].error.code, -32601);
  check(`${label} batch get_data`, byId['9'], { result: ['hello', 5] });
  check(
    `${label} batch: every member is jsonrpc 2.0`,
    responses.every((r) => r.jsonrpc === '2.0'),
    true,
  );
}

function arg(i, what) {
  const v = process.argv[2 + i];
  if (v === undefined) {
    console.error(`usage: node ${process.argv[1]} ${what}`);
    process.exit(2);
  }
  return v;
}

module.exports = { check, fail, run, outcome, calculatorChecks, batchRequests, checkBatch, arg, DIV_BY_ZERO };
