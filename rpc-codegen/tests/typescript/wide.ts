// The runtime reads integers beyond 2^53 exactly at the places typed `bigint`, and only
// there, and sends a `bigint` as a bare JSON number. A mock `fetch` and a mock `WebSocket`
// answer with crafted JSON text (node's own JSON.parse would round these numbers).
// Run: node wide.js
import { Client, RecordSchema, Tree } from "./wide_integers";

declare const process: { exitCode?: number };

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`failed: ${what}`);
}

/** The text of each method's `result`, as the mock server writes it. */
const results = new Map<string, string>();
/** Every request body the mock server got, as sent. */
const bodies: string[] = [];

async function mockFetch(_url: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  const body = String(init?.body);
  bodies.push(body);
  const parsed: unknown = JSON.parse(body);
  const answer = (message: { method: string; id?: number }) =>
    `{"jsonrpc":"2.0","id":${message.id},"result":${results.get(message.method) ?? JSON.stringify(body)}}`;
  const text = Array.isArray(parsed) ? `[${parsed.map(answer).join(",")}]` : answer(parsed as { method: string; id: number });
  return new Response(text, { headers: { "Content-Type": "application/json" } });
}
(globalThis as { fetch: typeof fetch }).fetch = mockFetch;

/** A WebSocket whose server sends, for a subscription, an item before the answer, then items and the end. */
class MockSocket {
  onopen: (() => void) | undefined;
  onclose: (() => void) | undefined;
  onerror: (() => void) | undefined;
  onmessage: ((event: { data: string }) => void) | undefined;
  constructor(readonly url: string) {
    setTimeout(() => this.onopen?.(), 1);
  }
  send(text: string): void {
    const message = JSON.parse(text) as { method: string; id: number };
    const notice = (result: string) => `{"jsonrpc":"2.0","method":"big","params":{"subscription":"s1","result":${result}}}`;
    const frames =
      message.method === "subscribe_big"
        ? [
            notice("18446744073709551615"),
            `{"jsonrpc":"2.0","id":${message.id},"result":"s1"}`,
            notice("9007199254740993"),
            notice("7"),
            `{"jsonrpc":"2.0","method":"big","params":{"subscription":"s1","error":null}}`,
          ]
        : [`{"jsonrpc":"2.0","id":${message.id},"result":true}`];
    frames.forEach((data, k) => setTimeout(() => this.onmessage?.({ data }), 5 * (k + 1)));
  }
  close(): void {
    setTimeout(() => this.onclose?.(), 1);
  }
}
(globalThis as { WebSocket?: unknown }).WebSocket = MockSocket;

const U64_MAX = 18446744073709551615n;
const I64_MIN = -9223372036854775808n;
const I128_MAX = 170141183460469231731687303715884105727n;

async function main(): Promise<void> {
  const client = new Client("http://mock/");

  results.set("big_u64", "18446744073709551615");
  check((await client.big_u64()) === U64_MAX, "u64::MAX read exactly");
  results.set("big_i64", "-9223372036854775808");
  check((await client.big_i64()) === I64_MIN, "i64::MIN read exactly");
  results.set("big_i64", "1152921504606846977");
  check((await client.big_i64()) === 1152921504606846977n, "2^60 + 1 read exactly");
  results.set("big_i64", "5");
  const five = await client.big_i64();
  check(typeof five === "bigint" && five === 5n, "a small value of a wide type is a bigint too");
  results.set("small", "5");
  check((await client.small()) === 5, "an int64 bounded within 2^53 is a number");
  results.set("bounded", "123456789012345678901234567890");
  check((await client.bounded()) === 123456789012345678901234567890n, "a maximum beyond 2^53 makes a bigint");

  // Strings with digits, and with the NULs the marker is made of, stay as they are.
  results.set(
    "record",
    `{"id":18446744073709551615,"name":"\\u0000\\u000012345678901234567890","values":[1,-9223372036854775808,9007199254740993],` +
      `"pair":["12345678901234567890",${I128_MAX}],"small":7,"maybe":null,"any":9007199254740993,"__proto__":-1}`,
  );
  const record: RecordSchema = await client.record();
  check(record.id === U64_MAX, "a field");
  check(record.name === "\u0000\u000012345678901234567890", `a string of digits after NULs: ${JSON.stringify(record.name)}`);
  check(record.values.join(",") === "1,-9223372036854775808,9007199254740993", `items: ${record.values}`);
  check(record.values.every((v) => typeof v === "bigint"), "every item a bigint");
  check(record.pair[0] === "12345678901234567890" && record.pair[1] === I128_MAX, "a tuple: i128::MAX");
  check(record.small === 7 && record.maybe === null, "a number and a null");
  check(typeof record.any === "number" && record.any === 9007199254740992, "unknown: a number, as JSON.parse reads it");
  check(Object.getOwnPropertyDescriptor(record, "__proto__")?.value === -1n, "a field named __proto__");
  check(Object.getPrototypeOf(record) === Object.prototype, "the prototype untouched");

  results.set("record", `{"id":1,"name":"x","values":[],"pair":["",0],"small":0,"maybe":9007199254740993,"any":null}`);
  check((await client.record()).maybe === 9007199254740993n, "a nullable field that is there");

  results.set("forest", `[{"size":1152921504606846977,"children":[{"size":2,"children":[{"size":18446744073709551615,"children":[]}]}]}]`);
  const forest: Tree[] = await client.forest();
  check(forest[0].size === 1152921504606846977n, "a recursive type: the top");
  check(forest[0].children[0].children[0].size === U64_MAX, "a recursive type: two levels down");

  results.set("counts", `{"a":18446744073709551615,"__proto__":3}`);
  const counts = await client.counts();
  check(counts.a === U64_MAX && Object.getOwnPropertyDescriptor(counts, "__proto__")?.value === 3n, "a record's values");

  results.set("either", "9223372036854775807");
  check((await client.either()) === 9223372036854775807n, "a union: its integer member");
  results.set("either", `"9223372036854775807"`);
  check((await client.either()) === "9223372036854775807", "a union: its string member");

  results.set("anything", `[9007199254740993, "x"]`);
  const anything = (await client.anything()) as unknown[];
  check(anything[0] === 9007199254740992 && anything[1] === "x", "a value typed unknown: numbers, as before");

  results.set("big_u64", "18446744073709551615");
  results.set("big_i64", "-9223372036854775808");
  const [a, b] = await client.batch((batch) => [batch.big_u64(), batch.big_i64()]);
  check(a === U64_MAX && b === I64_MIN, "a batch's results");

  // Sending: bare numbers, exactly; everything else as JSON.stringify writes it.
  results.delete("send");
  const sent = await client.send(U64_MAX, {
    id: 1152921504606846977n,
    name: "12345678901234567890",
    values: [I64_MIN, 1n],
    pair: ["x", I128_MAX],
    small: 3,
    maybe: null,
    any: { when: new Date(0), gone: undefined, list: [undefined, 1.5] },
  });
  const expected =
    `{"jsonrpc":"2.0","method":"send","params":[18446744073709551615,{"id":1152921504606846977,"name":"12345678901234567890",` +
    `"values":[-9223372036854775808,1],"pair":["x",${I128_MAX}],"small":3,"maybe":null,` +
    `"any":{"when":"1970-01-01T00:00:00.000Z","list":[null,1.5]}}],"id":`;
  check(sent.startsWith(expected), `the request: ${sent}`);
  check((await client.send(42)).includes(`"params":[42]`), "a number where a bigint is typed");
  check((await client.send_named(-(2n ** 127n))).includes(`"params":{"n":-170141183460469231731687303715884105728}`), "by name");

  // Over a WebSocket: a subscription's items, one of them before the answer.
  const socket = new Client("ws://mock/");
  const items: bigint[] = [];
  for await (const item of await socket.subscribe_big()) items.push(item);
  check(items.join(",") === `${U64_MAX},9007199254740993,7` && items.every((i) => typeof i === "bigint"), `items: ${items}`);
  socket.close();
  console.log("ok");
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
