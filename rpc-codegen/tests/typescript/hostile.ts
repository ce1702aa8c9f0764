// Clients generated from hostile documents stay working objects: awaiting one
// sends nothing and gives the client, its prototype is its class's, every
// method is there and calls its own wire name with its own parameters.
// Run: node hostile.js (a mock `fetch` answers each call with what it got).
import * as Then from "./then";
import * as Proto from "./proto";
import * as Names from "./runtime_names";

declare const process: { exitCode?: number };

/** Every call the mock server got: its method and params. */
const sent: string[] = [];

/** Answers each call with `{method, params}` as a JSON string. */
async function mockFetch(_url: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  const body: unknown = JSON.parse(String(init?.body));
  const answer = (message: { method: string; params?: unknown; id?: number }) => {
    const call = JSON.stringify({ method: message.method, params: message.params });
    sent.push(call);
    return { jsonrpc: "2.0", id: message.id, result: call };
  };
  const answers = Array.isArray(body) ? body.map(answer) : answer(body as { method: string });
  return new Response(JSON.stringify(answers), { headers: { "Content-Type": "application/json" } });
}
(globalThis as { fetch: typeof fetch }).fetch = mockFetch;

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`failed: ${what}`);
}

/** What a call of `method` with `params` answers. */
function call(method: string, params?: unknown): string {
  return JSON.stringify({ method, params });
}

/** `value` awaited, or "still pending" after a second. */
async function settled(value: unknown): Promise<unknown> {
  const late = new Promise((resolve) => setTimeout(() => resolve("still pending"), 1000));
  return Promise.race([(async () => await value)(), late]);
}

async function then(): Promise<void> {
  const client = new Then.Client("http://mock/");
  check((await settled(client)) === client, "awaiting the client gives the client");
  check((await settled(client.later)) === client.later, "awaiting a namespace gives the namespace");
  check(!("then" in client) && !("then" in client.later), "no member named then");
  check(sent.length === 0, `awaiting sent nothing: ${sent}`);
  check((await client.then_2(1)) === call("then", [1]), "then is then_2, as then_ is taken");
  check((await client.then_(2)) === call("then_", [2]), "then_ keeps its name");
  check((await client.later.then_()) === call("later.then"), "later.then is later.then_");
  check((await client.later.soon()) === call("later.soon"), "its sibling");
  const [a, b] = await client.batch((batch) => [batch.then_2(3), batch.ping()]);
  check(a === call("then", [3]) && b === call("ping"), "the same names in a batch");
}

async function proto(): Promise<void> {
  const client = new Proto.Client("http://mock/");
  const before = sent.length;
  check(Object.getPrototypeOf(client) === Proto.Client.prototype, "the prototype is the class's");
  check(client instanceof Proto.Client && client.constructor === Proto.Client, "constructor is the class");
  check(typeof client.ping === "function" && typeof client.close === "function", "the methods are there");
  check((await settled(client)) === client, "awaiting the client gives the client");
  check(String(client) === "[object Object]" && JSON.stringify({ client }).length > 0, "conversions");
  check(Object.prototype.hasOwnProperty.call(client, "__proto___"), "__proto__ is a field of its own");
  check(sent.length === before, `conversions sent nothing: ${sent.slice(before)}`);
  check((await client.ping()) === call("ping"), "ping");
  check((await client.__proto___.x()) === call("__proto__.x"), "the namespace __proto__");
  check((await client.__proto___2()) === call("__proto__"), "the method __proto__");
  check((await client.a.__proto___.b()) === call("a.__proto__.b"), "a nested __proto__");
  check((await client.a.constructor_()) === call("a.constructor"), "a nested constructor");
  check((await client.constructor_()) === call("constructor"), "constructor");
  check((await client.prototype_()) === call("prototype"), "prototype");
  check((await client.toString_()) === call("toString"), "toString");
  check((await client.valueOf_()) === call("valueOf"), "valueOf");
  check((await client.toJSON_()) === call("toJSON"), "toJSON");
  check((await client.hasOwnProperty_("k")) === call("hasOwnProperty", ["k"]), "hasOwnProperty");
  const shape: Proto.Shape = { ["__proto__"]: "p", constructor: "c", then: "t", prototype: 1 };
  check(Object.keys(shape).length === 4, "a type with those properties");
}

async function runtimeNames(): Promise<void> {
  const client = new Names.Client("http://mock/");
  const values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] as const;
  check((await client.positional(...values)) === call("positional", [...values]), "positional");
  const named = { __rpcWire: 1, __rpcPositional: 2, __rpcNamed: 3, this: 4, default: 5, arguments: 6, eval: 7, await: 8, connection: 9, undefined: 10 };
  check((await client.named(...values)) === call("named", named), "by name, each under its own name");
  await client.notify(1, 2, 3);
  check(sent[sent.length - 1] === call("notify", [1, 2, 3]), "a notification");
  check((await client.close_()) === call("close"), "close_ calls close");
  check((await client.on_("m")) === call("on", ["m"]), "on_ calls on");
  check((await client.batch_()) === call("batch"), "batch_ calls batch");
  check((await client.connection_()) === call("connection"), "connection_ calls connection");
  const before = sent.length;
  client.close();
  const [answer] = await client.batch((b) => [b.close_()]);
  check(answer === call("close") && sent.length === before + 1, "the client's own close and batch");
}

async function main(): Promise<void> {
  await then();
  await proto();
  await runtimeNames();
  console.log("ok");
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
