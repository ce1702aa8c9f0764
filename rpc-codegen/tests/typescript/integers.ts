// Integers beyond 2^53 go to the calculator and come back exactly, over HTTP and WebSocket.
// Run: node --experimental-websocket integers.js HTTP_URL WS_URL
import { Client, RpcError } from "./calculator";

declare const process: { argv: string[]; exitCode?: number };

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`failed: ${what}`);
}

const TWO_60_PLUS_1 = 2n ** 60n + 1n;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
const U64_MAX = 2n ** 64n - 1n;

async function exact(client: Client, over: string): Promise<void> {
  const big = await client.subtract(TWO_60_PLUS_1, 0n);
  check(big === TWO_60_PLUS_1, `${over}: 2^60 + 1 came back as ${big}`);
  check((await client.subtract(I64_MIN, 0)) === I64_MIN, `${over}: -(2^63)`);
  check((await client.add(I64_MAX, 0)) === I64_MAX, `${over}: i64::MAX`);
  check((await client.add(2n ** 53n, 1n)) === 2n ** 53n + 1n, `${over}: the server added exact values`);
  try {
    await client.add(I64_MAX, 1);
    check(false, `${over}: i64::MAX + 1 must overflow`);
  } catch (error) {
    // Had i64::MAX gone as a number (2^63), the params would be invalid (-32602), not an overflow.
    check(error instanceof RpcError && error.code !== -32602, `${over}: an overflow, not invalid params: ${error}`);
  }
  check((await client.subtract(42, 23)) === 19n, `${over}: numbers where bigints are typed`);
  const [difference, product] = await client.batch((b) => [b.subtract(TWO_60_PLUS_1, 1), b.math.multiply(2n ** 31n, 2n ** 31n)]);
  check(difference === 2n ** 60n && product === 2n ** 62n, `${over}: a batch: ${difference}, ${product}`);
  check((await client.stats([1, 2])).count === 2n, `${over}: a u64 field`);
}

async function main(): Promise<void> {
  const [http, ws] = process.argv.slice(2);
  await exact(new Client(http), "HTTP");
  const socket = new Client(ws);
  await exact(socket, "WebSocket");
  // u64::MAX as a bare number: the server reads a u64 (a rounded 2^64 would be -32602).
  const ticks = await socket.subscribe_ticks(1, U64_MAX);
  const items: bigint[] = [];
  for await (const item of ticks) {
    items.push(item);
    if (items.length === 2) break;
  }
  check(items[0] === 0n && items[1] === 1n, `u64::MAX as a count: items ${items}`);
  socket.close();
  console.log("ok");
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
