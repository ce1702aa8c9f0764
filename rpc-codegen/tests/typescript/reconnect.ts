// A WebSocket client with `reconnect` survives the calculator's restart on the same port:
// the call in flight fails with a clear error, the subscription is re-issued and its items
// go on; a client without it sees its subscription end with an error.
// Run: node --experimental-websocket reconnect.js WS_URL; it prints "ready" when the
// calculator may be killed, then "ok".
import { Client, RpcError } from "./calculator";

declare const process: { argv: string[]; exitCode?: number };

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`failed: ${what}`);
}

async function main(): Promise<void> {
  const [ws] = process.argv.slice(2);
  const client = new Client(ws, { reconnect: { initialDelayMs: 50, maxDelayMs: 500 }, timeoutMs: 20000 });
  const plain = new Client(ws);
  const ticks = await client.subscribe_ticks(20);
  const plainTicks = await plain.subscribe_ticks(20);
  const items = ticks[Symbol.asyncIterator]();
  const seen: number[] = [];
  while (seen.length < 3) seen.push((await items.next()).value as number);
  check(seen.join(",") === "0,1,2", `before: ${seen}`);

  const inFlight = client.sleep(60000).then(
    () => undefined,
    (error: unknown) => error,
  );
  const plainEnd = (async () => {
    try {
      for await (const _ of plainTicks) {
        // drain
      }
      return undefined;
    } catch (error) {
      return error;
    }
  })();
  const started = Date.now();
  console.log("ready");

  const lost = await inFlight;
  check(lost instanceof Error && !(lost instanceof RpcError) && /lost/.test(lost.message), `the call in flight: ${lost}`);
  // Made while the server is down: it waits for the reconnection.
  const during = client.subtract(7, 2);
  const ended = await plainEnd;
  check(ended instanceof Error && /closed/.test(ended.message), `without reconnect, the subscription ends: ${ended}`);

  // The items queued before the drop, then the re-issued subscription's, from 0 again.
  const after: number[] = [];
  for (;;) {
    const next = await items.next();
    check(!next.done, "the subscription goes on");
    after.push(next.value as number);
    const restart = after.lastIndexOf(0);
    if (restart >= 0 && after.length - restart === 3) break;
  }
  check(after.slice(-3).join(",") === "0,1,2", `after: ${after}`);
  console.error(`resubscribed ${Date.now() - started} ms after the drop; items after it: ${after}`);
  check((await during) === 5, "a call made while the server was down");
  check((await client.subtract(5, 3)) === 2, "calls after the reconnection");
  check(await ticks.unsubscribe(), "the server knows the re-issued subscription");
  client.close();
  plain.close();
  console.log("ok");
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
