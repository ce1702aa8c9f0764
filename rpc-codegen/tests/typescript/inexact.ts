// Without --bigint, i64 is a number: exact below 2^53, and an answer beyond that fails
// clearly (-32603 naming the flag) instead of coming back rounded.
// Run: node --experimental-websocket inexact.js HTTP_URL WS_URL
import { Client, ErrorCode, RpcError } from "./calculator";

declare const process: { argv: string[]; exitCode?: number };

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`failed: ${what}`);
}

async function over(url: string): Promise<void> {
  const client = new Client(url);
  const difference: number = await client.subtract(42, 23);
  check(difference === 19, `${url}: a number`);
  check((await client.add(2 ** 53 - 2, 1)) === 2 ** 53 - 1, `${url}: the largest exact integer`);
  try {
    const rounded = await client.add(2 ** 53 - 1, 2);
    check(false, `${url}: 2^53 + 1 came back as ${rounded}`);
  } catch (error) {
    check(
      error instanceof RpcError && error.code === ErrorCode.INTERNAL_ERROR && error.message.includes("--bigint") && error.data === "9007199254740993",
      `${url}: a clear error, not a rounded number: ${error}`,
    );
  }
  check((await client.subtract(5, 3)) === 2, `${url}: calls go on`);
  client.close();
}

async function main(): Promise<void> {
  await over(process.argv[2]);
  await over(process.argv[3]);
  console.log("ok");
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
