// Calls the calculator through the generated client, over HTTP and WebSocket.
// Run: node --experimental-websocket program.js HTTP_URL WS_URL
import { Client, RpcError, Shape, Stats } from "./calculator";

declare const process: { argv: string[] };

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`failed: ${what}`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function overHttp(url: string): Promise<void> {
  const client = new Client(url, { headers: { "x-from": "typescript" }, timeoutMs: 5000 });
  check((await client.subtract(42, 23)) === 19, "subtract by position");
  check((await client.greet("Ann")) === "Hello, Ann!", "an optional left out");
  check((await client.greet("Ann", "Dr")) === "Hello, Dr Ann!", "an optional given");
  const stats: Stats = await client.stats([1, 2, 3.5]);
  check(stats.count === 3 && stats.min === 1 && stats.max === 3.5, "stats");
  const empty = await client.stats([]);
  check(empty.count === 0 && empty.mean === null, "stats of nothing: nulls");
  const circle: Shape = { kind: "circle", radius: 2 };
  check(Math.abs((await client.area(circle)) - 4 * Math.PI) < 1e-9, "area of a circle");
  check((await client.area({ kind: "rect", width: 2, height: 3 })) === 6, "area of a rectangle");
  check((await client.math.multiply(6, 7)) === 42, "a namespaced method");
  try {
    await client.divide(1, 0);
    check(false, "divide by zero must fail");
  } catch (error) {
    check(error instanceof RpcError && error.code === -32000 && error.message === "Division by zero", "the error and its code");
  }
  const [difference, quotient, greeting] = await client.batch((b) => [b.subtract(5, 3), b.divide(1, 0), b.greet("Bo")]);
  check(difference === 2, "batch: first result");
  check(quotient instanceof RpcError && quotient.code === -32000, "batch: an error in its place");
  check(greeting === "Hello, Bo!", "batch: third result");
  await client.notify_hello(1);
  // A subscription over HTTP is an event stream of its own.
  const ticks: number[] = [];
  for await (const tick of await client.subscribe_ticks(10, 3)) ticks.push(tick);
  check(ticks.join(",") === "0,1,2", `a subscription over HTTP: ${ticks}`);
}

async function overWebSocket(url: string): Promise<void> {
  const client = new Client(url);
  const ticks: number[] = [];
  client.on("tick", (params) => ticks.push((params as number[])[0]));
  check((await client.notify_me(3)) === 3, "notify_me");
  await sleep(200);
  check(ticks.join(",") === "0,1,2", `ticks pushed to the client: ${ticks}`);
  const items: number[] = [];
  for await (const item of await client.subscribe_ticks(10, 3)) items.push(item);
  check(items.join(",") === "0,1,2", `a finite subscription: ${items}`);
  const endless = await client.subscribe_ticks(5);
  let seen = 0;
  for await (const _ of endless) {
    if (++seen === 3) break;
  }
  check(seen === 3, "leaving the loop unsubscribes");
  const again = await client.subscribe_ticks(5);
  check(await again.unsubscribe(), "unsubscribe answers true");
  check((await client.subtract(1, 1)) === 0, "calls go on after subscriptions");
  const [sum, product] = await client.batch((b) => [b.add(1, 2), b.math.multiply(2, 3)]);
  check(sum === 3 && product === 6, "a batch over WebSocket");
  try {
    await client.divide(1, 0);
    check(false, "divide by zero must fail");
  } catch (error) {
    check(error instanceof RpcError && error.code === -32000, "an error over WebSocket");
  }
  client.close();
}

async function main(): Promise<void> {
  const [http, ws] = process.argv.slice(2);
  await overHttp(http);
  await overWebSocket(ws);
  console.log("ok");
}

main().catch((error) => {
  console.error(error);
  throw error;
});
