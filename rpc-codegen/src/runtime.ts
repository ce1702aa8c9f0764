// ---- The runtime: the same in every generated client. ----

/**
 * The error codes servers of this framework answer with (`RpcError.code`): JSON-RPC 2.0's
 * own (-32700 to -32603), then the framework's. An application's own errors have codes of
 * their own (the calculator's "Division by zero" is -32000).
 *
 * ```ts
 * if (error instanceof RpcError && error.code === ErrorCode.UNAUTHORIZED) login();
 * ```
 */
export const ErrorCode = {
  /** Invalid JSON was received. */
  PARSE_ERROR: -32700,
  /** The JSON sent is not a valid request object. */
  INVALID_REQUEST: -32600,
  /** The method does not exist. */
  METHOD_NOT_FOUND: -32601,
  /** Invalid method parameters. */
  INVALID_PARAMS: -32602,
  /** Internal JSON-RPC error (also: a handler panicked). */
  INTERNAL_ERROR: -32603,
  /** The caller lacks the role the method requires ("Unauthorized"). */
  UNAUTHORIZED: -32001,
  /** A method that needs a duplex connection (WebSocket, TCP) was called over plain HTTP. */
  DUPLEX_REQUIRED: -32002,
  /** A subscription ended because its subscriber did not keep up. */
  SUBSCRIPTION_LAGGED: -32004,
  /** Refused to protect the server: a rate limit or load shedding. */
  OVERLOADED: -32005,
  /** The request did not finish within the server's per-request timeout. */
  REQUEST_TIMEOUT: -32097,
  /** The request (body or batch) is larger than the server accepts. */
  REQUEST_TOO_LARGE: -32098,
  /** The server is shutting down and accepts no new requests. */
  SHUTTING_DOWN: -32099,
  /** The caller cancelled the call (`$/cancelRequest`, LSP's code). */
  REQUEST_CANCELLED: -32800,
} as const;

/** An error answer from the server. Transport failures reject with a plain `Error`. */
export class RpcError extends Error {
  /** The JSON-RPC error code (see `ErrorCode`). */
  readonly code: number;
  /** The error's `data`, if the server sent any. */
  readonly data: unknown;
  constructor(code: number, message: string, data?: unknown) {
    super(message);
    this.name = "RpcError";
    this.code = code;
    this.data = data;
  }
}

/** Settings of a client. */
export interface ClientOptions {
  /** Headers of every HTTP request (browsers cannot set WebSocket headers: see `token`). */
  headers?: Record<string, string>;
  /** How long a call waits for its answer, in milliseconds (default 30000). */
  timeoutMs?: number;
  /**
   * A bearer token. Over HTTP it is the header `Authorization: Bearer TOKEN`; over
   * WebSocket, whose API cannot set headers, the subprotocol `bearer.TOKEN` offered beside
   * `jsonrpc`, which the server reads the same way. It must then be a valid subprotocol:
   * letters, digits and ``!#$%&'*+-.^_`|~`` (a JWT or a hex or base64url token is).
   */
  token?: string;
  /**
   * WebSocket only: when the connection drops (not by `close()`), reconnect in the
   * background, waiting between attempts (exponential back-off with jitter, capped), and
   * re-issue every subscription still being read, with its original parameters: the
   * server gives it a new `id`, and items sent while the connection was down are lost.
   * Calls in flight when it drops reject with an `Error` saying the connection was lost
   * (the server may or may not have run them); calls made while it is down wait for the
   * next connection within their timeout. `true` for the defaults. Without it, a dropped
   * connection ends every subscription with an error, and the next call connects anew.
   */
  reconnect?: boolean | ReconnectOptions;
}

/** How a WebSocket client reconnects (`ClientOptions.reconnect`). */
export interface ReconnectOptions {
  /** The wait before the first attempt, in milliseconds (default 100); it doubles after each failure. */
  initialDelayMs?: number;
  /** The longest wait between attempts, in milliseconds (default 30000, as the Rust client). */
  maxDelayMs?: number;
  /**
   * How many attempts in a row before giving up (default: no limit); then every
   * subscription ends with an error.
   */
  maxAttempts?: number;
}

/**
 * Where a value holds integers that are read as `bigint`: `n` here; `p` in these
 * properties; `i` in every item; `t` in the items by position; `v` in the values of the
 * properties `p` does not name; `a` wherever any of these says; `r` where the named
 * schema's places say.
 */
interface Places {
  n?: boolean;
  p?: Array<[string, Places]>;
  i?: Places;
  t?: Array<Places | null>;
  v?: Places;
  a?: Places[];
  r?: string;
}

/** A call as it goes on the wire, and where its result (or a subscription's items) holds bigints. */
interface Wire {
  method: string;
  params: unknown[] | Record<string, unknown> | undefined;
  notification: boolean;
  places: Places | undefined;
}

/** A response object. */
interface Answer {
  id?: number | string | null;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

/** One call of a batch, as `client.batch(b => [...])` collects them. */
export interface BatchCall<T> {
  readonly wire: Wire;
  /** Never set: carries the result type. */
  readonly result?: T;
}

/** The results of a batch, in call order: each a result or an `RpcError`. */
export type BatchResults<T extends readonly BatchCall<unknown>[]> = {
  -readonly [K in keyof T]: T[K] extends BatchCall<infer R> ? R | RpcError : never;
};

/** A subscription's items as they come; `unsubscribe()` ends it. */
export interface Subscription<T> extends AsyncIterable<T> {
  /** The id the server gave it (a new one after a reconnection re-issued it). */
  readonly id: string;
  /** Ends it; whether the server still had it. */
  unsubscribe(): Promise<boolean>;
}

function __rpcPositional(values: unknown[]): unknown[] | undefined {
  let end = values.length;
  while (end > 0 && values[end - 1] === undefined) end--;
  return end === 0 && values.length === 0 ? undefined : values.slice(0, end).map((v) => (v === undefined ? null : v));
}

function __rpcNamed(names: string[], values: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  names.forEach((name, i) => {
    if (values[i] !== undefined) {
      Object.defineProperty(out, name, { value: values[i], enumerable: true, writable: true, configurable: true });
    }
  });
  return out;
}

function __rpcWire(method: string, params: Wire["params"], notification = false, places?: Places): Wire {
  return { method, params, notification, places };
}

// ---- JSON with exact big integers ----
//
// A JavaScript number holds integers exactly up to 2^53 - 1. Where the document says an
// integer can be larger (`format` int64, uint64, int128, uint128, int or uint, or a
// `minimum` or `maximum` beyond 2^53 - 1), the module's type is `number` unless it was
// generated with `--bigint`; then an answer holding such an integer beyond 2^53 - 1 fails
// with -32603 naming it, rather than coming back rounded. With `--bigint` the type is
// `bigint`, and:
// - sending, a `bigint` anywhere in the params is written as a bare JSON number;
// - receiving, an integer at a place typed `bigint` is read exactly, however large. Before
//   `JSON.parse`, each integer literal that a number would round is rewritten as a string
//   that starts with a marker no string of the text starts with (NUL characters, one more
//   than the most any string of the text starts with); the places typed `bigint` turn
//   those, and plain numbers, into bigints; any other place gets a number, as before.

/** JSON text parsed, its big integer literals still strings starting with `marker`. */
interface Parsed {
  value: unknown;
  /** None when the text had no integer literal beyond 2^53. */
  marker: string | undefined;
}

function parseJson(text: string): Parsed {
  // No run of 16 digits anywhere: no integer a number would round.
  if (!/\d{16}/.test(text)) return { value: JSON.parse(text), marker: undefined };
  const big: Array<[number, number]> = [];
  let nuls = 0;
  for (let i = 0; i < text.length; ) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: how many NULs it starts with, then to its closing quote.
      let j = i + 1;
      let lead = 0;
      while (text.startsWith("\\u0000", j)) {
        lead++;
        j += 6;
      }
      if (lead > nuls) nuls = lead;
      while (j < text.length) {
        const d = text.charCodeAt(j);
        if (d === 0x5c) j += 2;
        else if (d === 0x22) break;
        else j++;
      }
      i = j + 1;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      let j = i + 1;
      let integer = true;
      for (; j < text.length; j++) {
        const d = text.charCodeAt(j);
        if (d >= 0x30 && d <= 0x39) continue;
        if (d === 0x2e || d === 0x65 || d === 0x45 || d === 0x2b || d === 0x2d) integer = false;
        else break;
      }
      if (integer && j - i > 15 && !Number.isSafeInteger(Number(text.slice(i, j)))) big.push([i, j]);
      i = j;
    } else {
      i++;
    }
  }
  if (big.length === 0) return { value: JSON.parse(text), marker: undefined };
  const marker = "\u0000".repeat(nuls + 1);
  let rewritten = "";
  let at = 0;
  for (const [start, end] of big) {
    rewritten += text.slice(at, start) + JSON.stringify(marker + text.slice(start, end));
    at = end;
  }
  return { value: JSON.parse(rewritten + text.slice(at)), marker };
}

/** `value` with the integers at `places` as bigints (big literals exactly). */
function exact(value: unknown, places: Places | undefined, marker: string | undefined, named: ReadonlyMap<string, Places>, hops = 0): unknown {
  if (places === undefined || hops > 32) return value;
  if (places.n) {
    if (typeof value === "number" && Number.isInteger(value)) return __rpcBigints ? BigInt(value) : value;
    if (marker !== undefined && typeof value === "string" && value.startsWith(marker)) {
      const literal = value.slice(marker.length);
      if (__rpcBigints) return BigInt(literal);
      throw new Inexact(literal);
    }
  }
  // `a` and `r` look at this same value: `hops` ends a schema that only names itself.
  for (const alternative of places.a ?? []) value = exact(value, alternative, marker, named, hops + 1);
  if (places.r !== undefined) value = exact(value, named.get(places.r), marker, named, hops + 1);
  if (Array.isArray(value)) {
    const list: unknown[] = value;
    const tuple = places.t ?? [];
    for (let k = 0; k < tuple.length && k < list.length; k++) {
      const p = tuple[k];
      if (p !== null) list[k] = exact(list[k], p, marker, named);
    }
    if (places.i) for (let k = 0; k < list.length; k++) list[k] = exact(list[k], places.i, marker, named);
  } else if (typeof value === "object" && value !== null && (places.p || places.v)) {
    const object = value as Record<string, unknown>;
    const own = (key: string) => Object.prototype.hasOwnProperty.call(object, key);
    const set = (key: string, p: Places) => {
      Object.defineProperty(object, key, { value: exact(object[key], p, marker, named), enumerable: true, writable: true, configurable: true });
    };
    for (const [key, p] of places.p ?? []) if (own(key)) set(key, p);
    if (places.v) {
      const listed = new Set((places.p ?? []).map(([key]) => key));
      for (const key of Object.keys(object)) if (!listed.has(key)) set(key, places.v);
    }
  }
  return value;
}

/** `value` with every big literal left (at a place not typed `bigint`) as a number. */
function inexact(value: unknown, marker: string | undefined): unknown {
  if (marker === undefined) return value;
  if (typeof value === "string") return value.startsWith(marker) ? Number(value.slice(marker.length)) : value;
  if (Array.isArray(value)) {
    for (let k = 0; k < value.length; k++) value[k] = inexact(value[k], marker);
  } else if (typeof value === "object" && value !== null) {
    const object = value as Record<string, unknown>;
    for (const key of Object.keys(object)) {
      Object.defineProperty(object, key, { value: inexact(object[key], marker), enumerable: true, writable: true, configurable: true });
    }
  }
  return value;
}

/** `JSON.stringify(value)`, but a `bigint` is a bare JSON number, exactly. */
function encodeJson(value: unknown): string {
  const open = new Set<object>();
  const encode = (key: string, v: unknown): string | undefined => {
    if (typeof v === "object" && v !== null && typeof (v as { toJSON?: unknown }).toJSON === "function") {
      v = (v as { toJSON(key: string): unknown }).toJSON(key);
    }
    if (typeof v === "bigint") return v.toString();
    if (v instanceof Number || v instanceof String || v instanceof Boolean) v = v.valueOf();
    if (typeof v !== "object" || v === null) return JSON.stringify(v);
    if (open.has(v)) throw new TypeError("cannot send a cyclic structure as JSON");
    open.add(v);
    let text: string;
    if (Array.isArray(v)) {
      text = "[" + v.map((item, k) => encode(String(k), item) ?? "null").join(",") + "]";
    } else {
      const object = v as Record<string, unknown>;
      const members: string[] = [];
      for (const k of Object.keys(object)) {
        const member = encode(k, object[k]);
        if (member !== undefined) members.push(JSON.stringify(k) + ":" + member);
      }
      text = "{" + members.join(",") + "}";
    }
    open.delete(v);
    return text;
  };
  return encode("", value) ?? "null";
}

/** An integer typed `number` that a number cannot hold exactly (a module generated without `--bigint`). */
class Inexact extends Error {
  constructor(readonly literal: string) {
    super(`the answer holds the integer ${literal}, beyond what a number holds exactly (2^53 - 1): generate the client with \`rpc-codegen typescript --bigint\` to read it as a bigint`);
  }
}

/** `answer` as parsed with `marker`, its result's integers at `places` exact, every other big literal a number. */
function decode(answer: Answer, places: Places | undefined, marker: string | undefined, named: ReadonlyMap<string, Places>): Answer {
  if ("result" in answer) {
    try {
      answer.result = exact(answer.result, places, marker, named);
    } catch (error) {
      if (!(error instanceof Inexact)) throw error;
      return { id: answer.id, error: { code: -32603, message: error.message, data: error.literal } };
    }
  }
  return inexact(answer, marker) as Answer;
}

/** The result of a decoded answer, or its error thrown. */
function settle(answer: Answer | undefined): unknown {
  if (answer === undefined) throw new Error("no answer to the call");
  if (answer.error !== undefined && answer.error !== null) {
    throw new RpcError(answer.error.code, answer.error.message, answer.error.data);
  }
  return answer.result;
}

/** Items of one subscription, queued until read. */
class Items<T> implements Subscription<T> {
  private readonly queue: T[] = [];
  private readonly waiting: Array<{ resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void }> = [];
  private ended: { error?: unknown } | undefined;
  constructor(
    public id: string,
    private readonly connection: Connection,
    /** The call that made it, to make it again after a reconnection. */
    readonly call: Wire,
    readonly unsubscribeMethod: string,
  ) {}
  get isEnded(): boolean {
    return this.ended !== undefined;
  }
  push(item: T): void {
    const next = this.waiting.shift();
    if (next) next.resolve({ value: item, done: false });
    else this.queue.push(item);
  }
  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = { error };
    for (const next of this.waiting.splice(0)) {
      if (error === undefined) next.resolve({ value: undefined, done: true });
      else next.reject(error);
    }
  }
  async unsubscribe(): Promise<boolean> {
    const live = this.connection.forget(this as Items<unknown>);
    this.end();
    // Over a connection that is gone, the server has forgotten it already.
    if (!live || !this.connection.isOpen()) return false;
    return (await this.connection.request(__rpcWire(this.unsubscribeMethod, [this.id]))) as boolean;
  }
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: (): Promise<IteratorResult<T>> => {
        if (this.queue.length > 0) return Promise.resolve({ value: this.queue.shift() as T, done: false });
        if (this.ended) {
          const error = this.ended.error;
          this.ended = { error: undefined };
          return error === undefined ? Promise.resolve({ value: undefined, done: true }) : Promise.reject(error);
        }
        return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
      },
      return: async (): Promise<IteratorResult<T>> => {
        if (!this.ended) await this.unsubscribe().catch(() => false);
        return { value: undefined, done: true };
      },
    };
  }
}

/** A call waiting for its answer on a WebSocket. */
interface Waiter {
  /** The answer (big literals still marked), or why none will come. */
  deliver(answer: Answer | Error, marker: string | undefined): void;
}

/** One WebSocket and the calls waiting on it. */
interface OpenSocket {
  socket: Promise<WebSocket>;
  waiters: Map<number | string, Waiter>;
}

/** One connection to the server: HTTP (a request per call) or a WebSocket. */
class Connection {
  private nextId = 1;
  private readonly handlers = new Map<string, (params: unknown) => void>();
  /** Subscriptions on the current WebSocket, by the id it gave them. */
  private readonly items = new Map<string, Items<unknown>>();
  /** Subscriptions of a dropped WebSocket, until they are re-issued. */
  private readonly lost = new Set<Items<unknown>>();
  /** Notices of subscriptions not known yet (their answer is on its way), big literals still marked. */
  private readonly early: Array<[string, Record<string, unknown>, string | undefined]> = [];
  /** The WebSocket in use and the calls waiting on it. */
  private current: OpenSocket | undefined;
  /** A reconnection under way, and the calls waiting for it to connect. */
  private restoring = false;
  private readonly waitingForSocket: Array<() => void> = [];
  /** Bumped by `close()`: a reconnection of an older count stops. */
  private closes = 0;
  readonly duplex: boolean;
  private readonly timeoutMs: number;
  private readonly reconnect: Required<ReconnectOptions> | undefined;

  constructor(
    readonly url: string,
    readonly options: ClientOptions,
    /** The places of the document's schemas, by their type's name. */
    private readonly named: ReadonlyMap<string, Places>,
  ) {
    this.duplex = /^wss?:\/\//i.test(url);
    if (!this.duplex && !/^https?:\/\//i.test(url)) {
      throw new Error(`unsupported URL ${url}: expected http(s):// or ws(s)://`);
    }
    if (this.duplex && options.token !== undefined && !/^[\w!#$%&'*+\-.^|~\x60]+$/.test(options.token)) {
      throw new Error(
        "the token cannot travel as a WebSocket subprotocol (`bearer.TOKEN`): only letters, digits and !#$%&'*+-.^_`|~ can",
      );
    }
    this.timeoutMs = options.timeoutMs ?? 30000;
    const reconnect = options.reconnect === true ? {} : options.reconnect || undefined;
    this.reconnect = reconnect && {
      initialDelayMs: reconnect.initialDelayMs ?? 100,
      maxDelayMs: reconnect.maxDelayMs ?? 30000,
      maxAttempts: reconnect.maxAttempts ?? Infinity,
    };
  }

  on(method: string, handler: (params: unknown) => void): void {
    if (!this.duplex) throw new Error("server notifications need a WebSocket (ws:// or wss://)");
    this.handlers.set(method, handler);
    // Open now, so that notifications come before any call; a failure
    // shows at the next call.
    this.open().catch(() => undefined);
  }

  close(): void {
    this.closes++;
    for (const waiting of this.waitingForSocket.splice(0)) waiting();
    const current = this.current;
    this.current = undefined;
    for (const items of this.lost) items.end(new Error("connection closed"));
    this.lost.clear();
    if (current) void current.socket.then((s) => s.close(1000), () => undefined);
  }

  /** Whether a WebSocket is open (or opening). */
  isOpen(): boolean {
    return this.current !== undefined;
  }

  /** Stops delivering to `items`; whether the server has it on the current connection. */
  forget(items: Items<unknown>): boolean {
    this.lost.delete(items);
    if (this.items.get(items.id) !== items) return false;
    this.items.delete(items.id);
    return true;
  }

  async request(call: Wire): Promise<unknown> {
    if (call.notification) {
      await this.send(this.message(call, undefined), new Map());
      return undefined;
    }
    const id = this.nextId++;
    const answers = await this.send(this.message(call, id), new Map([[id, call.places]]));
    return settle(answers.get(id));
  }

  async batch(calls: Wire[]): Promise<unknown[]> {
    const ids = calls.map((c) => (c.notification ? undefined : this.nextId++));
    const messages = calls.map((c, i) => this.message(c, ids[i]));
    const expected = new Map<number, Places | undefined>();
    ids.forEach((id, i) => {
      if (id !== undefined) expected.set(id, calls[i].places);
    });
    const answers = await this.send(messages, expected);
    return ids.map((id) => {
      if (id === undefined) return undefined;
      try {
        return settle(answers.get(id));
      } catch (error) {
        if (error instanceof RpcError) return error;
        throw error;
      }
    });
  }

  async subscribe<T>(call: Wire, unsubscribeMethod: string): Promise<Subscription<T>> {
    if (!this.duplex) throw new Error("subscriptions need a WebSocket (ws:// or wss://)");
    const items = new Items<unknown>("", this, call, unsubscribeMethod);
    await this.issue(items);
    return items as Subscription<T>;
  }

  /** Makes the call of `items` and delivers what the server sends under the id it answers. */
  private async issue(items: Items<unknown>): Promise<void> {
    const id = String(await this.request(__rpcWire(items.call.method, items.call.params)));
    if (items.isEnded) {
      // Unsubscribed while the call was on its way.
      this.request(__rpcWire(items.unsubscribeMethod, [id])).catch(() => false);
      return;
    }
    items.id = id;
    this.items.set(id, items);
    // Items that came before the answer was read.
    for (const [forId, notice, marker] of this.early.splice(0)) {
      if (forId === id) this.deliver(id, notice, marker);
      else this.early.push([forId, notice, marker]);
    }
  }

  private message(call: Wire, id: number | undefined): Record<string, unknown> {
    const m: Record<string, unknown> = { jsonrpc: "2.0", method: call.method };
    if (call.params !== undefined) m.params = call.params;
    if (id !== undefined) m.id = id;
    return m;
  }

  /** Sends a message and waits for the answers to the ids of `expected`, which says where each result holds bigints. */
  private async send(message: unknown, expected: Map<number, Places | undefined>): Promise<Map<number | string, Answer>> {
    return this.duplex ? this.sendOnSocket(message, expected) : this.post(message, expected);
  }

  private async post(message: unknown, expected: Map<number, Places | undefined>): Promise<Map<number | string, Answer>> {
    const body = encodeJson(message);
    let response: Response;
    let text: string;
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    const given = Object.keys(this.options.headers ?? {}).some((name) => name.toLowerCase() === "authorization");
    if (this.options.token !== undefined && !given) headers["Authorization"] = `Bearer ${this.options.token}`;
    try {
      response = await fetch(this.url, {
        method: "POST",
        headers: { ...headers, ...(this.options.headers ?? {}) },
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await response.text();
    } catch (error) {
      const timedOut = error instanceof Error && error.name === "TimeoutError";
      throw new Error(timedOut ? `no answer from ${this.url} within ${this.timeoutMs} ms` : `cannot reach ${this.url}: ${String(error)}`);
    }
    const answers = new Map<number | string, Answer>();
    let parsed: Parsed = { value: undefined, marker: undefined };
    try {
      if (text !== "") parsed = parseJson(text);
    } catch {
      parsed = { value: undefined, marker: undefined };
    }
    const isAnswer = (a: unknown): a is Answer =>
      typeof a === "object" && a !== null && ("result" in a || (typeof (a as Answer).error === "object" && typeof (a as Answer).error?.code === "number"));
    const value = parsed.value;
    const list: unknown[] = Array.isArray(value) ? value : value === undefined ? [] : [value];
    if (!response.ok && !list.some(isAnswer)) {
      throw new Error(`HTTP ${response.status} from ${this.url}: ${text.slice(0, 200)}`);
    }
    if (expected.size === 0) return answers;
    if (list.length === 0) throw new Error(`HTTP ${response.status}: not a JSON-RPC answer: ${text.slice(0, 200)}`);
    for (const answer of list) {
      if (!isAnswer(answer)) continue;
      const id = answer.id ?? (answer.error && expected.size === 1 ? [...expected.keys()][0] : undefined);
      if (id === undefined || !expected.has(id as number)) continue;
      answers.set(id, decode(answer, expected.get(id as number), parsed.marker, this.named));
    }
    return answers;
  }

  private open(): Promise<WebSocket> {
    if (this.current) return this.current.socket;
    if (typeof WebSocket === "undefined") {
      return Promise.reject(
        new Error("this runtime has no WebSocket global: use a browser, node 22+, or node 20 with --experimental-websocket"),
      );
    }
    const waiters = new Map<number | string, Waiter>();
    const token = this.options.token;
    let opened = false;
    const opening: Promise<WebSocket> = new Promise<WebSocket>((resolve, reject) => {
      // Browsers and node cannot set headers on a WebSocket: the token is a subprotocol.
      const socket = token === undefined ? new WebSocket(this.url) : new WebSocket(this.url, ["jsonrpc", `bearer.${token}`]);
      socket.onopen = () => {
        opened = true;
        resolve(socket);
      };
      socket.onerror = () => reject(new Error(`cannot connect to ${this.url}`));
      socket.onclose = () => {
        // Only this socket's calls fail; a newer socket is not touched.
        const lost = new Error(`connection to ${this.url} lost before the answer came (the server may or may not have run the call)`);
        for (const waiter of [...waiters.values()]) waiter.deliver(lost, undefined);
        waiters.clear();
        if (this.current?.socket !== opening) return;
        this.current = undefined;
        if (opened) this.dropped();
      };
      socket.onmessage = (event: MessageEvent) => this.receive(String(event.data), waiters);
    });
    this.current = { socket: opening, waiters };
    opening.catch(() => {
      if (this.current?.socket === opening) this.current = undefined;
    });
    return opening;
  }

  /** The current WebSocket dropped: its subscriptions end, or wait for a reconnection. */
  private dropped(): void {
    const items = [...this.items.values()];
    this.items.clear();
    this.early.length = 0;
    if (!this.reconnect) {
      for (const i of items) i.end(new Error("connection closed"));
      return;
    }
    for (const i of items) this.lost.add(i);
    if ((this.lost.size > 0 || this.handlers.size > 0) && !this.restoring) void this.restore(this.reconnect);
  }

  /** Reconnects, backing off, and re-issues the subscriptions of dropped connections. */
  private async restore(settings: Required<ReconnectOptions>): Promise<void> {
    this.restoring = true;
    const closes = this.closes;
    const wake = () => {
      for (const waiting of this.waitingForSocket.splice(0)) waiting();
    };
    try {
      for (let failures = 0; ; ) {
        if (closes !== this.closes) return;
        if (failures >= settings.maxAttempts) {
          const error = new Error(`connection to ${this.url} lost: no reconnection after ${failures} attempts`);
          for (const items of this.lost) items.end(error);
          this.lost.clear();
          return;
        }
        // Exponential, capped, and with jitter: between half the delay and all of it.
        const delay = Math.min(settings.maxDelayMs, settings.initialDelayMs * 2 ** Math.min(failures, 30));
        await new Promise((resolve) => setTimeout(resolve, delay / 2 + (Math.random() * delay) / 2));
        if (closes !== this.closes) return;
        try {
          await this.open();
          wake();
          for (const items of [...this.lost]) {
            if (closes !== this.closes) return;
            if (!this.lost.has(items)) continue;
            try {
              await this.issue(items);
              this.lost.delete(items);
            } catch (error) {
              if (!(error instanceof RpcError)) throw error;
              // The server refuses it now: that ends it.
              this.lost.delete(items);
              items.end(error);
            }
          }
          return;
        } catch {
          failures++;
        }
      }
    } finally {
      this.restoring = false;
      wake();
      // Dropped again after the last re-issue: start over.
      const wanted = this.lost.size > 0 || this.handlers.size > 0;
      if (closes === this.closes && this.current === undefined && wanted && this.reconnect) {
        void this.restore(this.reconnect);
      }
    }
  }

  private receive(text: string, waiters: Map<number | string, Waiter>): void {
    let parsed: Parsed;
    try {
      parsed = parseJson(text);
    } catch {
      return;
    }
    const { value, marker } = parsed;
    for (const message of (Array.isArray(value) ? value : [value]) as Array<Record<string, unknown>>) {
      if (!message || typeof message !== "object") continue;
      if (typeof message.method === "string") {
        this.notice(message.method, message.params, marker);
      } else if (message.id !== undefined && message.id !== null) {
        const waiter = waiters.get(message.id as number);
        if (waiter) waiter.deliver(message as Answer, marker);
      }
    }
  }

  private notice(method: string, params: unknown, marker: string | undefined): void {
    const p = params as Record<string, unknown> | undefined;
    if (p && typeof p === "object" && !Array.isArray(p) && "subscription" in p) {
      const id = String(p.subscription);
      if (this.items.has(id)) {
        this.deliver(id, p, marker);
      } else if (this.handlers.has(method)) {
        this.handlers.get(method)?.(inexact(params, marker));
      } else {
        if (this.early.length >= 256) this.early.shift();
        this.early.push([id, p, marker]);
      }
      return;
    }
    const handler = this.handlers.get(method);
    if (handler) handler(inexact(params, marker));
  }

  /** A subscription notice: an item, or the end. */
  private deliver(id: string, notice: Record<string, unknown>, marker: string | undefined): void {
    const items = this.items.get(id);
    if (!items) return;
    if ("result" in notice) {
      let item: unknown;
      try {
        item = exact(notice.result, items.call.places, marker, this.named);
      } catch (error) {
        if (!(error instanceof Inexact)) throw error;
        items.end(new RpcError(-32603, error.message, error.literal));
        this.items.delete(id);
        return;
      }
      items.push(inexact(item, marker));
    } else if ("error" in notice) {
      const e = inexact(notice.error, marker) as Answer["error"] | null;
      items.end(e ? new RpcError(e.code, e.message, e.data) : undefined);
      this.items.delete(id);
    }
  }

  private async sendOnSocket(message: unknown, expected: Map<number, Places | undefined>): Promise<Map<number | string, Answer>> {
    const text = encodeJson(message);
    let timer: ReturnType<typeof setTimeout> | undefined;
    // The timeout covers connecting too (a reconnection may be under way).
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer from ${this.url} within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    const ids = [...expected.keys()];
    let waiters: Map<number | string, Waiter> | undefined;
    try {
      if (this.restoring && this.current === undefined) {
        // Down: the reconnection's next connection, rather than one of our own now.
        await Promise.race([new Promise<void>((resolve) => this.waitingForSocket.push(resolve)), late]);
      }
      const opening = this.open();
      // The socket `open` returns is the current one, and these are its waiters.
      waiters = this.current?.waiters;
      const socket = await Promise.race([opening, late]);
      const on = waiters;
      if (!on) throw new Error("connection closed");
      const answers = new Map<number | string, Answer>();
      const done = new Promise<Map<number | string, Answer>>((resolve, reject) => {
        if (ids.length === 0) return resolve(answers);
        for (const id of ids) {
          const places = expected.get(id);
          on.set(id, {
            deliver: (answer, marker) => {
              on.delete(id);
              if (answer instanceof Error) {
                ids.forEach((other) => on.delete(other));
                return reject(answer);
              }
              answers.set(id, decode(answer, places, marker, this.named));
              if (answers.size === ids.length) resolve(answers);
            },
          });
        }
      });
      socket.send(text);
      return await Promise.race([done, late]);
    } catch (error) {
      if (waiters) for (const id of ids) waiters.delete(id);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }
}
