// A bearer token reaches the calculator (serve --auth-token TOKEN): over WebSocket as the
// subprotocol `bearer.TOKEN` (node's and browsers' WebSocket cannot set headers), over HTTP
// as `Authorization: Bearer TOKEN`; admin methods need it; `ErrorCode` names the codes.
// Run: node --experimental-websocket auth.js HTTP_URL WS_URL TOKEN
import { Client, ErrorCode, RpcError } from "./calculator";

declare const process: { argv: string[]; exitCode?: number };

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`failed: ${what}`);
}

async function unauthorized(client: Client, what: string): Promise<void> {
  try {
    await client.admin.connections();
    check(false, `${what}: an admin call must fail`);
  } catch (error) {
    check(error instanceof RpcError && error.code === ErrorCode.UNAUTHORIZED && error.code === -32001, `${what}: ${error}`);
  }
}

async function main(): Promise<void> {
  const [http, ws, token] = process.argv.slice(2);

  const withToken = new Client(ws, { token });
  check((await withToken.admin.connections()) >= 1, "an admin call over WebSocket with the token");
  check((await withToken.subtract(3, 1)) === 2, "other calls on the same connection");
  withToken.close();
  check((await new Client(http, { token }).admin.active_calls()) >= 1, "an admin call over HTTP with the token");

  const without = new Client(ws);
  await unauthorized(without, "over WebSocket without a token");
  check((await without.subtract(3, 1)) === 2, "the connection goes on");
  without.close();
  const wrong = new Client(ws, { token: token + "x" });
  await unauthorized(wrong, "over WebSocket with another token");
  wrong.close();
  await unauthorized(new Client(http), "over HTTP without a token");

  try {
    new Client(ws, { token: "has spaces" });
    check(false, "a token that cannot be a subprotocol must be refused");
  } catch (error) {
    check(error instanceof Error && /subprotocol/.test(error.message) && !error.message.includes("has spaces"), `${error}`);
  }

  check(
    ErrorCode.PARSE_ERROR === -32700 && ErrorCode.METHOD_NOT_FOUND === -32601 && ErrorCode.SUBSCRIPTION_LAGGED === -32004,
    "the codes",
  );
  try {
    await new Client(http).subtract("x" as unknown as number, 1);
    check(false, "a string for an integer must fail");
  } catch (error) {
    check(error instanceof RpcError && error.code === ErrorCode.INVALID_PARAMS, `${error}`);
  }
  console.log("ok");
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
