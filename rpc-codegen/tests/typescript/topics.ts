// Topic subscriptions of the generated client against the calculator, over http:// (server-sent
// events) and ws://, each through a TCP proxy this script can cut while the server stays up (a
// restarted calculator would have lost its retained messages): messages come with their event
// ids; messages published while the connection is cut come after the reconnection, each once and
// in order; a subscription that cannot resume (ticks) counts a gap; a `since` the server does not
// hold counts one; `unsubscribe()` ends the subscription on the server (`publish` says 0).
// Run: node --experimental-websocket topics.js HTTP_URL WS_URL; it prints "ok".
import { Client, RpcError, Subscription } from "./calculator";

declare const process: { argv: string[]; exitCode?: number; exit(code: number): never };
declare function require(name: "net"): Net;

/** What this script uses of node's `net` (no @types/node here). */
interface Socket {
  pipe(to: Socket): Socket;
  destroy(): void;
  on(event: "error" | "close", listener: () => void): void;
}
interface Server {
  listen(port: number, host: string, listening: () => void): void;
  address(): { port: number };
  close(): void;
}
interface Net {
  createServer(accepted: (socket: Socket) => void): Server;
  connect(port: number, host: string): Socket;
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`failed: ${what}`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A TCP proxy to the calculator that can be cut (every connection dropped, new ones refused) and restored. */
class Proxy {
  private readonly server: Server;
  private readonly open = new Set<Socket>();
  private up = true;
  /** Connections refused while cut: the client's attempts to reconnect. */
  refused = 0;
  port = 0;
  constructor(private readonly target: { host: string; port: number }) {
    const net = require("net");
    this.server = net.createServer((client) => {
      if (!this.up) {
        this.refused++;
        client.destroy();
        return;
      }
      const server = net.connect(target.port, target.host);
      for (const [socket, other] of [
        [client, server],
        [server, client],
      ]) {
        this.open.add(socket);
        socket.on("error", () => other.destroy());
        socket.on("close", () => {
          this.open.delete(socket);
          other.destroy();
        });
        socket.pipe(other);
      }
    });
  }
  start(): Promise<void> {
    return new Promise((resolve) =>
      this.server.listen(0, "127.0.0.1", () => {
        this.port = this.server.address().port;
        resolve();
      }),
    );
  }
  url(scheme: string): string {
    return `${scheme}://127.0.0.1:${this.port}/`;
  }
  cut(): void {
    this.up = false;
    for (const socket of [...this.open]) socket.destroy();
  }
  restore(): void {
    this.up = true;
  }
  close(): void {
    this.cut();
    this.server.close();
  }
}

/** The next item of `iterator`, which must come within 5 s. */
async function nextOf<T>(iterator: AsyncIterator<T>, what: () => string): Promise<IteratorResult<T>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`failed: no item within 5 s: ${what()}`)), 5000);
  });
  try {
    return await Promise.race([iterator.next(), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads the next `n` items of `items` (named `what`), with the event id after each. */
async function read<T>(what: string, items: Subscription<T>, iterator: AsyncIterator<T>, n: number): Promise<Array<[T, string | undefined]>> {
  const out: Array<[T, string | undefined]> = [];
  while (out.length < n) {
    const next = await nextOf(iterator, () => `${what} after ${JSON.stringify(out)}`);
    check(!next.done, `the subscription goes on (after ${JSON.stringify(out)})`);
    out.push([next.value, items.lastEvent]);
  }
  return out;
}

/** Waits until `publish` reaches no subscription: the server ended the one unsubscribed. */
async function untilNoSubscriber(publisher: Client, topic: string): Promise<number> {
  const started = Date.now();
  while ((await publisher.publish(topic, "anyone?")) !== 0) {
    check(Date.now() - started < 5000, `the server still has a subscription to ${topic} 5 s after unsubscribe()`);
    await sleep(20);
  }
  return Date.now() - started;
}

/**
 * Over `scheme` through `proxy`: a topic subscription and a ticks subscription survive a cut;
 * the topic misses nothing and repeats nothing, the ticks count a gap. `plain` (no reconnection),
 * if given, ends with an error instead.
 */
async function resumesAfterACut(scheme: string, proxy: Proxy, publisher: Client, plain?: Client): Promise<void> {
  const topic = `news-${scheme}`;
  const client = new Client(proxy.url(scheme), { reconnect: { initialDelayMs: 20, maxDelayMs: 200 }, timeoutMs: 5000 });
  const news = await client.subscribe_topic(topic);
  const ticks = await client.subscribe_ticks(20);
  const plainNews = plain && (await plain.subscribe_topic(topic));
  const firstId = news.id;
  const items = news[Symbol.asyncIterator]();
  const tickItems = ticks[Symbol.asyncIterator]();

  check((await publisher.publish(topic, "m1")) >= 1 && (await publisher.publish(topic, { n: 2 })) >= 1, "published before the cut");
  const before = await read(`${scheme}: ${topic}`, news, items, 2);
  check(JSON.stringify(before.map(([m]) => m)) === '["m1",{"n":2}]', `${scheme}: before the cut: ${JSON.stringify(before)}`);
  const [e1, e2] = before.map(([, e]) => e);
  check(typeof e1 === "string" && typeof e2 === "string" && e1 !== e2, `${scheme}: each message with its event id: ${e1}, ${e2}`);
  check(news.gaps === 0, `${scheme}: no gap yet`);
  const seenTicks = await read(`${scheme}: ticks`, ticks, tickItems, 2);
  check(seenTicks.map(([t]) => t).join(",") === "0,1" && ticks.lastEvent === undefined, `${scheme}: ticks carry no event id`);

  // The event ids are the server's: resuming after the first gives the second.
  const after1 = await publisher.subscribe_topic(topic, e1);
  const [[resumed, resumedEvent]] = await read(`${scheme}: since ${e1}`, after1, after1[Symbol.asyncIterator](), 1);
  check(JSON.stringify(resumed) === '{"n":2}' && resumedEvent === e2, `${scheme}: since ${e1} gives the second message: ${JSON.stringify(resumed)}`);
  check(await after1.unsubscribe(), `${scheme}: unsubscribe answers true`);

  proxy.cut();
  const plainEnd = plainNews
    ? (async () => {
        try {
          for await (const _ of plainNews) {
            // drain
          }
          return undefined;
        } catch (error) {
          return error;
        }
      })()
    : undefined;
  // Published while the client is cut off; its attempts to reconnect are refused meanwhile.
  await publisher.publish(topic, "m3");
  await publisher.publish(topic, "m4");
  const refused = proxy.refused;
  while (proxy.refused < refused + 2) await sleep(10);
  proxy.restore();
  await publisher.publish(topic, "m5");

  const after = await read(`${scheme}: ${topic}`, news, items, 3);
  check(JSON.stringify(after.map(([m]) => m)) === '["m3","m4","m5"]', `${scheme}: after the cut, exactly the missed messages: ${JSON.stringify(after)}`);
  check(news.gaps === 0, `${scheme}: resumed without a gap (${news.gaps})`);
  check(news.id !== firstId, `${scheme}: made again under a new id`);
  check(new Set([e1, e2, ...after.map(([, e]) => e)]).size === 5, `${scheme}: five event ids`);
  // Nothing repeated behind them either.
  await publisher.publish(topic, "m6");
  const [[m6]] = await read(`${scheme}: ${topic}`, news, items, 1);
  check(m6 === "m6", `${scheme}: the next message is the next one published: ${JSON.stringify(m6)}`);

  // Ticks start anew after the reconnection: items were missed, and the gap is counted
  // when the first new tick is read.
  let tick: number | undefined;
  do {
    const next = await nextOf(tickItems, () => `${scheme}: ticks after ${tick}`);
    check(!next.done, `${scheme}: ticks go on`);
    check(ticks.gaps === (next.value === 0 ? 1 : 0), `${scheme}: the gap is counted before the first new tick (${next.value}, ${ticks.gaps})`);
    tick = next.value;
  } while (tick !== 0);

  if (plainEnd) {
    const ended = await plainEnd;
    check(ended instanceof Error && !(ended instanceof RpcError), `${scheme}: without reconnection, a drop ends the subscription: ${ended}`);
  }
  check(await news.unsubscribe(), `${scheme}: the server has the resumed subscription`);
  check(await ticks.unsubscribe(), `${scheme}: the server has the new ticks`);
  client.close();
  console.error(`${scheme}: resumed after ${proxy.refused - refused} refused attempts; messages ${JSON.stringify(after)}`);
}

/** A `since` the server does not hold: one gap, then every retained message. */
async function aBogusSinceIsAGap(client: Client, topic: string): Promise<void> {
  const items = await client.subscribe_topic(topic, "bogus");
  const iterator = items[Symbol.asyncIterator]();
  check(items.gaps === 0, "no gap before reading");
  const [[first, event]] = await read(`${topic} since bogus`, items, iterator, 1);
  check(first === "m1" && items.gaps === 1 && typeof event === "string", `the gap, then the oldest retained: ${JSON.stringify(first)}, ${items.gaps}`);
  await items.unsubscribe();
}

/** `unsubscribe()` ends the subscription on the server. */
async function unsubscribeEndsItOnTheServer(client: Client, publisher: Client, topic: string): Promise<number> {
  const items = await client.subscribe_topic(topic);
  check((await publisher.publish(topic, "hello")) === 1, `${topic}: one subscriber`);
  const [[hello]] = await read(topic, items, items[Symbol.asyncIterator](), 1);
  check(hello === "hello", `${topic}: the message`);
  check(await items.unsubscribe(), `${topic}: unsubscribe answers true`);
  check(!(await items.unsubscribe()), `${topic}: a second unsubscribe answers false`);
  return untilNoSubscriber(publisher, topic);
}

async function main(): Promise<void> {
  const watchdog = setTimeout(() => {
    console.error("topics.js: still running after 60 s");
    process.exit(2);
  }, 60000);
  const [http, ws] = process.argv.slice(2);
  const target = new URL(http);
  const proxy = new Proxy({ host: target.hostname, port: Number(target.port) });
  await proxy.start();
  const publisher = new Client(http, { timeoutMs: 5000 });

  // Over http:// a subscription is an event stream; one that ends ends its stream.
  const finite: number[] = [];
  for await (const tick of await publisher.subscribe_ticks(10, 3)) finite.push(tick);
  check(finite.join(",") === "0,1,2", `a finite subscription over SSE: ${finite}`);
  try {
    await publisher.subscribe_topic("x".repeat(300));
    check(false, "a refused subscription must fail");
  } catch (error) {
    check(error instanceof RpcError, `the refusal is the server's error: ${error}`);
  }

  const plain = new Client(proxy.url("http"), { reconnect: false, timeoutMs: 5000 });
  await resumesAfterACut("http", proxy, publisher, plain);
  plain.close();
  await resumesAfterACut("ws", proxy, publisher);

  await aBogusSinceIsAGap(publisher, "news-http");
  const wsClient = new Client(ws);
  await aBogusSinceIsAGap(wsClient, "news-ws");

  const sse = await unsubscribeEndsItOnTheServer(publisher, publisher, "bye-http");
  const overWs = await unsubscribeEndsItOnTheServer(wsClient, publisher, "bye-ws");
  console.error(`after unsubscribe(), publish reached nobody within ${sse} ms (SSE), ${overWs} ms (WebSocket)`);

  // close() ends the event streams of a client too (and lets node exit).
  const open = await publisher.subscribe_topic("closing");
  publisher.close();
  try {
    for await (const _ of open) {
      // none
    }
    check(false, "close() ends the subscription with an error");
  } catch (error) {
    check(error instanceof Error && /closed/.test(error.message), `close(): ${error}`);
  }
  wsClient.close();
  proxy.close();
  clearTimeout(watchdog);
  console.log("ok");
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
  process.exit(1);
});
