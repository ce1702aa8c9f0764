// The runtime reads an event stream however its bytes are split: a mock `fetch` answers a
// subscription over http:// with a crafted `text/event-stream` body (CRLF, CR and LF line ends,
// comments, a byte order mark, `data:` over two lines, UTF-8 of two to four bytes, a gap notice,
// fields it ignores), cut into two chunks at every byte boundary, and into single bytes. The
// body ends in the middle of an event: the client makes the call again with `Last-Event-ID`
// and `since` set to the last event id it received, and the second stream's item comes once.
// Refusals that are no event stream reject with the server's `RpcError`, or an `Error`.
// Run: node events.js; it prints "ok".
import { Client, ErrorCode, RpcError } from "./calculator";

declare const process: { exitCode?: number };

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`failed: ${what}`);
}

const encoder = new TextEncoder();
const notice = (params: string) => `{"jsonrpc":"2.0","method":"topic","params":${params}}`;

/** The first stream: it ends in the middle of the event of 7-4. */
const FIRST = encoder.encode(
  "\uFEFF: a comment\r\n" +
    'data: {"jsonrpc":"2.0","id":1,"result":"s1"}\r\n\r\n' +
    "id: 7-1\n" +
    'data: {"jsonrpc":"2.0","method":"topic",\r\n' +
    'data: "params":{"subscription":"s1","result":"é😀 ü\u4e2d","event":"7-1"}}\n\n' +
    "retry: 1000\r" +
    "id: 7-1\r" +
    `data:${notice('{"subscription":"s1","gap":true}')}\r\r` +
    ": keep-alive\n\n" +
    "event: ignored\n" +
    "id: 7-2\n" +
    `data: ${notice('{"subscription":"s1","result":{"a":"x\\u2028y"},"event":"7-2"}')}\r\n` +
    "\r\n" +
    `data: ${notice('{"subscription":"other","result":"not ours"}')}\n\n` +
    "unknown field\n" +
    "data\n\n" +
    "id: 7-3\n" +
    `data: ${notice('{"subscription":"s1","result":3,"event":"7-3"}')}\n\n` +
    "id: 7-4\n" +
    `data: ${notice('{"subscription":"s1","result":4,"event":"7-4"}')}\n`,
);

/** The stream that resumes after 7-3. */
const SECOND = encoder.encode(
  'data: {"jsonrpc":"2.0","id":1,"result":"s2"}\n\n' +
    "id: 7-4\n" +
    `data: ${notice('{"subscription":"s2","result":4,"event":"7-4"}')}\n\n` +
    "id: 7-4\n" +
    `data: ${notice('{"subscription":"s2","error":null}')}\n\n`,
);

/** What each read yields: an item, and `lastEvent` and `gaps` after it. */
const EXPECTED = JSON.stringify([
  ["é😀 ü\u4e2d", "7-1", 0],
  [{ a: "x\u2028y" }, "7-2", 1],
  [3, "7-3", 1],
  [4, "7-4", 1],
]);

interface Request {
  headers: Headers;
  body: unknown;
  signal: AbortSignal | undefined;
}

/** A body of `chunks`, erroring when `signal` aborts. */
function body(chunks: Uint8Array[], signal: AbortSignal | undefined): ReadableStream<Uint8Array> {
  let next = 0;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      signal?.addEventListener("abort", () => controller.error(new Error("aborted")));
    },
    pull(controller) {
      if (next < chunks.length) controller.enqueue(chunks[next++]);
      else controller.close();
    },
  });
}

/** Installs a `fetch` that answers the n-th request with `answers[n]`; the requests it got. */
function mock(answers: Array<(signal: AbortSignal | undefined) => Response>): Request[] {
  const requests: Request[] = [];
  (globalThis as { fetch: typeof fetch }).fetch = async (_url: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const signal = init?.signal ?? undefined;
    requests.push({ headers: new Headers(init?.headers), body: JSON.parse(String(init?.body)), signal });
    const answer = answers[requests.length - 1];
    if (!answer) throw new Error("no more answers");
    return answer(signal);
  };
  return requests;
}

const stream = (chunks: Uint8Array[]) => (signal: AbortSignal | undefined) =>
  new Response(body(chunks, signal), { headers: { "Content-Type": "text/event-stream" } });

/** Subscribes with the first body cut into `chunks`; checks every item and both requests. */
async function readSplit(chunks: Uint8Array[], what: string): Promise<void> {
  const requests = mock([stream(chunks), stream([SECOND])]);
  const client = new Client("http://mock/", { reconnect: { initialDelayMs: 1, maxDelayMs: 1 } });
  const news = await client.subscribe_topic("news");
  check(news.id === "s1", `${what}: the id ${news.id}`);
  const seen: unknown[] = [];
  for await (const item of news) seen.push([item, news.lastEvent, news.gaps]);
  check(JSON.stringify(seen) === EXPECTED, `${what}: ${JSON.stringify(seen)}`);
  check(news.id === "s2", `${what}: the new id ${news.id}`);
  check(requests.length === 2, `${what}: ${requests.length} requests`);
  const [first, second] = requests;
  check(first.headers.get("accept") === "text/event-stream" && first.headers.get("last-event-id") === null, `${what}: the first request's headers`);
  check(JSON.stringify((first.body as { params: unknown }).params) === '["news"]', `${what}: the first call`);
  check(second.headers.get("last-event-id") === "7-3", `${what}: Last-Event-ID ${second.headers.get("last-event-id")}`);
  check(JSON.stringify((second.body as { params: unknown }).params) === '["news","7-3"]', `${what}: since in the call made again`);
  client.close();
}

async function main(): Promise<void> {
  await readSplit([FIRST], "one chunk");
  await readSplit([...FIRST].map((byte) => Uint8Array.of(byte)), "byte by byte");
  for (let at = 1; at < FIRST.length; at++) {
    await readSplit([FIRST.subarray(0, at), FIRST.subarray(at)], `split at byte ${at}`);
  }

  // unsubscribe() aborts the request.
  const requests = mock([stream([FIRST.subarray(0, 200)])]);
  const client = new Client("http://mock/");
  const news = await client.subscribe_topic("news", "7-0");
  check(JSON.stringify((requests[0].body as { params: unknown }).params) === '["news","7-0"]', "since as given");
  check(await news.unsubscribe(), "unsubscribe: the server had it");
  check(requests[0].signal?.aborted === true, "unsubscribe aborts the request");
  check(!(await news.unsubscribe()), "a second unsubscribe answers false");

  // Answers that are no event stream.
  mock([
    () => new Response('{"jsonrpc":"2.0","id":1,"error":{"code":-32099,"message":"Server is shutting down"}}', { status: 503 }),
    () => new Response("no such page", { status: 404 }),
    stream([encoder.encode('data: {"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"bad topic"}}\n\n')]),
  ]);
  for (const expected of [ErrorCode.SHUTTING_DOWN, undefined, ErrorCode.INVALID_PARAMS]) {
    try {
      await client.subscribe_topic("news");
      check(false, "a refusal must fail");
    } catch (error) {
      const code = error instanceof RpcError ? error.code : undefined;
      check(error instanceof Error && code === expected, `the refusal ${expected}: ${error}`);
    }
  }
  client.close();
  console.error(`read the stream of ${FIRST.length} bytes whole, byte by byte and split at each of its ${FIRST.length - 1} boundaries`);
  console.log("ok");
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
