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
   * How a client gets over a lost connection (`true`: the defaults of `ReconnectOptions`).
   *
   * Over `ws(s)://`, off unless given: when the WebSocket drops (not by `close()`), the
   * client reconnects in the background, waiting between attempts (exponential back-off with
   * jitter, capped), and makes every subscription still being read again: the server gives it
   * a new `id`. One with a `since` parameter (a topic's) resumes after the event id of the last
   * item it received, so that no item is lost or repeated; any other starts anew, and the items
   * sent meanwhile are lost (`Subscription.gaps` counts it). Calls in flight when it drops
   * reject with an `Error` saying the connection was lost (the server may or may not have run
   * them); calls made while it is down wait for the next connection within their timeout.
   * Without it, a dropped connection ends every subscription with an error, and the next call
   * connects anew.
   *
   * Over `http(s)://`, on unless `false`: a subscription is an event stream (server-sent
   * events); when it drops before its end (a network failure, a restart, a server draining),
   * it is made again with the same back-off, with `Last-Event-ID` (and its `since`, if it has
   * one) set to the last event id it received, as a browser's `EventSource` does. With
   * `false`, a drop ends it with an error.
   */
  reconnect?: boolean | ReconnectOptions;
}

/** How a client reconnects (`ClientOptions.reconnect`). */
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

/**
 * A subscription's items as they come; `unsubscribe()` (or leaving a `for await` loop) ends it.
 * Over `ws(s)://` it lives on the WebSocket; over `http(s)://` it is an event stream of its own
 * (server-sent events).
 *
 * Items may carry an event id (a topic's do): `lastEvent` is the last one read, which a new
 * subscription can resume after (`since`). A gap, items that were missed, is no error: it is
 * counted in `gaps` and the items after it follow.
 *
 * ```ts
 * const news = await client.subscribe_topic("news"); // a topic of the calculator example
 * let missed = 0;
 * for await (const message of news) {
 *   if (news.gaps !== missed) {
 *     missed = news.gaps;
 *     console.log("some messages were missed before this one");
 *   }
 *   console.log(news.lastEvent, message);
 * }
 * ```
 */
export interface Subscription<T> extends AsyncIterable<T> {
  /** The id the server gave it (a new one after a reconnection made it again). */
  readonly id: string;
  /**
   * The event id of the last item read, if the server sent one with it (`"event"` beside
   * `"result"`, as a topic's items have): where a reconnection resumes from.
   */
  readonly lastEvent: string | undefined;
  /**
   * How many times items were missed, up to the last item read: the server said so (a
   * `since` it no longer holds: `"gap": true`), or a reconnection had to make the subscription
   * again with no event id to resume from.
   */
  readonly gaps: number;
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

/** An item with its event id, if it came with one; `undefined` marks a gap. */
type Entry<T> = { item: T; event: string | undefined } | undefined;

/** Items of one subscription, queued until read. */
class Items<T> implements Subscription<T> {
  id = "";
  lastEvent: string | undefined;
  gaps = 0;
  /** The event id of the last item received (read or queued): where a new call resumes. */
  received: string | undefined;
  private readonly queue: Array<Entry<T>> = [];
  private readonly waiting: Array<{ resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void }> = [];
  private ended: { error?: unknown } | undefined;
  constructor(
    /** The call that made it, to make it again after a reconnection. */
    readonly call: Wire,
    readonly unsubscribeMethod: string,
    /** The position of its parameter `since`, which resumes it after an event id. */
    private readonly since: number | undefined,
    /** Ends it on its carrier; whether the server still had it. */
    private readonly stop: (items: Items<T>) => Promise<boolean>,
  ) {}
  get isEnded(): boolean {
    return this.ended !== undefined;
  }
  /**
   * The call to make it again, and whether that resumes it: with `since` set to the last
   * event id received, or as first made if it gave a `since` and nothing came since.
   */
  again(): { call: Wire; resumes: boolean } {
    const at = this.since;
    const params = this.call.params;
    if (at === undefined) return { call: this.call, resumes: false };
    if (this.received === undefined) {
      const given = Array.isArray(params) ? params[at] : params?.since;
      return { call: this.call, resumes: given !== undefined && given !== null };
    }
    let resumed: Wire["params"];
    if (params !== undefined && !Array.isArray(params)) {
      resumed = { ...params, since: this.received };
    } else {
      const list = [...(params ?? [])];
      while (list.length < at) list.push(null);
      list[at] = this.received;
      resumed = list;
    }
    return { call: { ...this.call, params: resumed }, resumes: true };
  }
  /**
   * Takes a notice of this subscription (big literals still marked): an item, a gap or the
   * end; whether it was the end.
   */
  take(notice: Record<string, unknown>, marker: string | undefined, named: ReadonlyMap<string, Places>): boolean {
    if ("result" in notice) {
      let item: unknown;
      try {
        item = exact(notice.result, this.call.places, marker, named);
      } catch (error) {
        if (!(error instanceof Inexact)) throw error;
        this.end(new RpcError(-32603, error.message, error.literal));
        return true;
      }
      this.push(inexact(item, marker) as T, typeof notice.event === "string" ? notice.event : undefined);
    } else if (notice.gap === true) {
      this.gap();
    } else if ("error" in notice) {
      const e = inexact(notice.error, marker) as Answer["error"] | null;
      this.end(e ? new RpcError(e.code, e.message, e.data) : undefined);
      return true;
    }
    return false;
  }
  push(item: T, event: string | undefined): void {
    if (this.ended) return;
    if (event !== undefined) this.received = event;
    const next = this.waiting.shift();
    if (next) {
      if (event !== undefined) this.lastEvent = event;
      next.resolve({ value: item, done: false });
    } else {
      this.queue.push({ item, event });
    }
  }
  /** Items were missed here. */
  gap(): void {
    if (this.ended) return;
    // Counted when read up to: before the next item.
    if (this.waiting.length > 0) this.gaps++;
    else this.queue.push(undefined);
  }
  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = { error };
    for (const next of this.waiting.splice(0)) {
      if (error === undefined) next.resolve({ value: undefined, done: true });
      else next.reject(error);
    }
  }
  unsubscribe(): Promise<boolean> {
    return this.stop(this);
  }
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: (): Promise<IteratorResult<T>> => {
        while (this.queue.length > 0) {
          const entry = this.queue.shift();
          if (entry === undefined) {
            this.gaps++;
            continue;
          }
          if (entry.event !== undefined) this.lastEvent = entry.event;
          return Promise.resolve({ value: entry.item, done: false });
        }
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
  /** Subscriptions over HTTP, each an event stream, until they end. */
  private readonly streams = new Set<EventStream>();
  readonly duplex: boolean;
  readonly timeoutMs: number;
  private readonly reconnect: Required<ReconnectOptions> | undefined;
  /** How event streams are made again (`reconnect` over HTTP: on unless `false`). */
  readonly streamReconnect: Required<ReconnectOptions> | undefined;

  constructor(
    readonly url: string,
    readonly options: ClientOptions,
    /** The places of the document's schemas, by their type's name. */
    readonly named: ReadonlyMap<string, Places>,
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
    const settings = (given: ReconnectOptions): Required<ReconnectOptions> => ({
      initialDelayMs: given.initialDelayMs ?? 100,
      maxDelayMs: given.maxDelayMs ?? 30000,
      maxAttempts: given.maxAttempts ?? Infinity,
    });
    this.reconnect = reconnect && settings(reconnect);
    this.streamReconnect = options.reconnect === false ? undefined : settings(reconnect ?? {});
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
    const closed = new Error("connection closed");
    for (const items of [...this.lost, ...this.items.values()]) items.end(closed);
    this.lost.clear();
    this.items.clear();
    for (const stream of [...this.streams]) stream.close(closed);
    if (current) void current.socket.then((s) => s.close(1000), () => undefined);
  }

  /** Ends `items` of the WebSocket; whether the server still had it. */
  private async unsubscribeOnSocket(items: Items<unknown>): Promise<boolean> {
    this.lost.delete(items);
    const live = this.items.get(items.id) === items;
    if (live) this.items.delete(items.id);
    items.end();
    // Over a connection that is gone, the server has forgotten it already.
    if (!live || this.current === undefined) return false;
    return (await this.request(__rpcWire(items.unsubscribeMethod, [items.id]))) as boolean;
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

  /**
   * Calls a subscription method; `since` is the position of its parameter of that name, which
   * resumes it after an event id.
   */
  async subscribe<T>(call: Wire, unsubscribeMethod: string, since?: number): Promise<Subscription<T>> {
    if (!this.duplex) {
      const stream = new EventStream(this, call, unsubscribeMethod, since, (s) => this.streams.delete(s));
      this.streams.add(stream);
      try {
        await stream.open();
      } catch (error) {
        this.streams.delete(stream);
        throw error;
      }
      return stream.items as Items<unknown> as Subscription<T>;
    }
    const items = new Items<unknown>(call, unsubscribeMethod, since, (i) => this.unsubscribeOnSocket(i));
    await this.issue(items, call, false);
    return items as Subscription<T>;
  }

  /**
   * Makes `call` for `items` and delivers what the server sends under the id it answers,
   * after a gap if `gap`.
   */
  private async issue(items: Items<unknown>, call: Wire, gap: boolean): Promise<void> {
    const id = String(await this.request(__rpcWire(call.method, call.params)));
    if (items.isEnded) {
      // Unsubscribed while the call was on its way.
      this.request(__rpcWire(items.unsubscribeMethod, [id])).catch(() => false);
      return;
    }
    items.id = id;
    this.items.set(id, items);
    if (gap) items.gap();
    // Items that came before the answer was read.
    for (const [forId, notice, marker] of this.early.splice(0)) {
      if (forId === id) this.deliver(id, notice, marker);
      else this.early.push([forId, notice, marker]);
    }
  }

  /** The request object of `call` with `id` (none: a notification). */
  message(call: Wire, id: number | undefined): Record<string, unknown> {
    const m: Record<string, unknown> = { jsonrpc: "2.0", method: call.method };
    if (call.params !== undefined) m.params = call.params;
    if (id !== undefined) m.id = id;
    return m;
  }

  /** Sends a message and waits for the answers to the ids of `expected`, which says where each result holds bigints. */
  private async send(message: unknown, expected: Map<number, Places | undefined>): Promise<Map<number | string, Answer>> {
    return this.duplex ? this.sendOnSocket(message, expected) : this.post(message, expected);
  }

  /** The headers of an HTTP request: `own`, the token's, then those of the options. */
  headers(own: Record<string, string>): Record<string, string> {
    const headers = { ...own };
    const given = Object.keys(this.options.headers ?? {}).some((name) => name.toLowerCase() === "authorization");
    if (this.options.token !== undefined && !given) headers["Authorization"] = `Bearer ${this.options.token}`;
    return { ...headers, ...(this.options.headers ?? {}) };
  }

  private async post(message: unknown, expected: Map<number, Places | undefined>): Promise<Map<number | string, Answer>> {
    const body = encodeJson(message);
    let response: Response;
    let text: string;
    try {
      response = await fetch(this.url, {
        method: "POST",
        headers: this.headers({ "Content-Type": "application/json" }),
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
        await new Promise((resolve) => setTimeout(resolve, backOff(settings, failures)));
        if (closes !== this.closes) return;
        try {
          await this.open();
          wake();
          for (const items of [...this.lost]) {
            if (closes !== this.closes) return;
            if (!this.lost.has(items)) continue;
            try {
              const again = items.again();
              await this.issue(items, again.call, !again.resumes);
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

  /** A subscription notice: an item, a gap, or the end. */
  private deliver(id: string, notice: Record<string, unknown>, marker: string | undefined): void {
    const items = this.items.get(id);
    if (items && items.take(notice, marker, this.named)) this.items.delete(id);
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

/** The wait before attempt `failures + 1` of a reconnection: doubling, capped, between half and all of it. */
function backOff(settings: Required<ReconnectOptions>, failures: number): number {
  const delay = Math.min(settings.maxDelayMs, settings.initialDelayMs * 2 ** Math.min(failures, 30));
  return delay / 2 + (Math.random() * delay) / 2;
}

// ---- Subscriptions over HTTP: server-sent events ----

/** One event of a `text/event-stream`. */
interface StreamEvent {
  /** Its `data:` lines, joined by `\n`. */
  data: string;
  /** The stream's last event id when it came (set by `id:`, kept from event to event). */
  id: string;
}

/**
 * The events of a `text/event-stream` body, read as the HTML standard says, from its bytes in
 * chunks split anywhere (in a line, in a CRLF, in a UTF-8 character): a line ends with CRLF, LF
 * or CR; `data:` lines join with `\n`; `id:` sets the last event id (one holding NUL is
 * ignored); a line starting with `:` is a comment; one space after a field's colon is dropped;
 * a blank line ends an event, and one without data is none. An event the body ends in the
 * middle of is dropped (never handed over).
 */
class EventStreamDecoder {
  private readonly text = new TextDecoder();
  /** Text after the last line end. */
  private rest = "";
  /** The last text ended with CR: an LF next ends no other line. */
  private afterCr = false;
  /** The `data:` values of the event so far, each followed by `\n`. */
  private data = "";
  constructor(
    /** The last event id: a new stream starts with the one its request resumed from. */
    private lastId: string,
  ) {}

  /** The events `chunk` completes. */
  push(chunk: Uint8Array): StreamEvent[] {
    let text = this.text.decode(chunk, { stream: true });
    if (text === "") return [];
    if (this.afterCr && text.startsWith("\n")) text = text.slice(1);
    this.afterCr = false;
    const events: StreamEvent[] = [];
    const ends = /\r\n|\r|\n/g;
    // Only the new text can hold a line end.
    ends.lastIndex = this.rest.length;
    this.rest += text;
    let start = 0;
    for (let end = ends.exec(this.rest); end !== null; end = ends.exec(this.rest)) {
      const event = this.line(this.rest.slice(start, end.index));
      if (event) events.push(event);
      start = end.index + end[0].length;
      if (end[0] === "\r" && start === this.rest.length) this.afterCr = true;
    }
    this.rest = this.rest.slice(start);
    return events;
  }

  /** Takes one line; the event it ends, if any. */
  private line(line: string): StreamEvent | undefined {
    if (line === "") {
      const data = this.data;
      this.data = "";
      return data === "" ? undefined : { data: data.slice(0, -1), id: this.lastId };
    }
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data += value + "\n";
    else if (field === "id" && !value.includes("\0")) this.lastId = value;
    // `event` and `retry` mean nothing here; other fields are ignored, as the standard says.
    return undefined;
  }
}

/** The events of a response's body, one at a time. */
class EventReader {
  private readonly decoder: EventStreamDecoder;
  private readonly ready: StreamEvent[] = [];
  constructor(
    private readonly body: ReadableStreamDefaultReader<Uint8Array>,
    lastId: string,
  ) {
    this.decoder = new EventStreamDecoder(lastId);
  }

  /** The next event; `undefined` once the body has ended. Rejects when it fails or is aborted. */
  async next(): Promise<StreamEvent | undefined> {
    while (this.ready.length === 0) {
      const chunk = await this.body.read();
      if (chunk.done) return undefined;
      this.ready.push(...this.decoder.push(chunk.value));
    }
    return this.ready.shift();
  }
}

/** An answer that no later attempt will change: no event stream, no JSON-RPC error, and a status that is not 408, 429 or 5xx. */
class Refusal extends Error {}

/** Whether another attempt may succeed where `error` failed. */
function retriable(error: unknown): boolean {
  if (error instanceof RpcError) return error.code === ErrorCode.SHUTTING_DOWN || error.code === ErrorCode.OVERLOADED;
  return !(error instanceof Refusal);
}

/**
 * One subscription over HTTP: its call POSTed with `Accept: text/event-stream`, answered as an
 * event stream (the answer, then each notification as a WebSocket would carry it, the end
 * included, each with an `id:`), and made again when the stream drops before the end, with
 * `Last-Event-ID` and `since` set to resume after the last event received. Aborting the
 * request ends it: the server unsubscribes when the stream closes.
 */
class EventStream {
  readonly items: Items<unknown>;
  /** The request under way, to abort. */
  private request: AbortController | undefined;
  /** The stream's last event id: `Last-Event-ID` of the next request. */
  private lastId = "";
  /** Answered, and neither ended nor dropped since: the server has it. */
  private live = false;
  private stopped = false;
  /** Ends the wait before the next attempt. */
  private wake: (() => void) | undefined;

  constructor(
    private readonly connection: Connection,
    call: Wire,
    unsubscribeMethod: string,
    since: number | undefined,
    /** Called once it has ended. */
    private readonly ended: (stream: EventStream) => void,
  ) {
    this.items = new Items<unknown>(call, unsubscribeMethod, since, () => Promise.resolve(this.close()));
  }

  /** Makes the call and waits for its answer; the items then come in the background. */
  async open(): Promise<void> {
    const reading = await this.connect(this.items.call);
    this.follow(reading).catch((error: unknown) => this.close(error));
  }

  /** Ends it, its items with `error` if given; whether the server still had it. */
  close(error?: unknown): boolean {
    const live = this.live;
    this.live = false;
    this.stopped = true;
    this.request?.abort();
    this.wake?.();
    this.items.end(error);
    this.ended(this);
    return live;
  }

  /** POSTs `call` and reads its stream up to the answer, which names the subscription. */
  private async connect(call: Wire): Promise<EventReader> {
    const { url, timeoutMs } = this.connection;
    const request = new AbortController();
    this.request = request;
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      request.abort();
    }, timeoutMs);
    const headers = this.connection.headers({ "Content-Type": "application/json" });
    headers["Accept"] = "text/event-stream";
    if (this.lastId !== "") headers["Last-Event-ID"] = this.lastId;
    const failed = (error: unknown): Error => {
      if (this.stopped) return new Error("the subscription was closed before its answer came");
      if (late) return new Error(`no answer from ${url} within ${timeoutMs} ms`);
      return new Error(`cannot reach ${url}: ${String(error)}`);
    };
    try {
      let response: Response;
      try {
        response = await fetch(url, {
          method: "POST",
          headers,
          body: encodeJson(this.connection.message(call, 1)),
          signal: request.signal,
        });
      } catch (error) {
        throw failed(error);
      }
      if (response.body === null || !/^text\/event-stream\b/i.test(response.headers.get("Content-Type") ?? "")) {
        throw this.refusal(response.status, await response.text().catch(() => ""));
      }
      const reading = new EventReader(response.body.getReader(), this.lastId);
      let event: StreamEvent | undefined;
      try {
        event = await reading.next();
      } catch (error) {
        throw failed(error);
      }
      if (event === undefined) throw new Error(`the event stream from ${url} ended before the answer`);
      let parsed: Parsed | undefined;
      try {
        parsed = parseJson(event.data);
      } catch {
        parsed = undefined;
      }
      const answer = parsed?.value as Answer | null | undefined;
      if (!parsed || typeof answer !== "object" || answer === null || !("result" in answer || "error" in answer)) {
        throw new Error(`not a JSON-RPC answer from ${url}: ${event.data.slice(0, 200)}`);
      }
      this.items.id = String(settle(decode(answer, undefined, parsed.marker, this.connection.named)));
      this.live = true;
      return reading;
    } catch (error) {
      request.abort();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Why a response that is no event stream refused the call. */
  private refusal(status: number, text: string): Error {
    let answer: Answer | undefined;
    try {
      const value = JSON.parse(text) as unknown;
      answer = (Array.isArray(value) ? value[0] : value) as Answer | undefined;
    } catch {
      answer = undefined;
    }
    const error = answer?.error;
    if (error && typeof error === "object" && typeof error.code === "number") {
      return new RpcError(error.code, String(error.message), error.data);
    }
    const message = `HTTP ${status} from ${this.connection.url}, not an event stream: ${text.slice(0, 200)}`;
    const temporary = status === 408 || status === 429 || status >= 500;
    return temporary ? new Error(message) : new Refusal(message);
  }

  /** Reads the items; when the stream drops before their end, makes the call again. */
  private async follow(reading: EventReader): Promise<void> {
    for (let next: EventReader | undefined = reading; next !== undefined; ) {
      const ended = await this.read(next);
      this.live = false;
      if (this.stopped) return;
      if (ended) {
        this.close();
        return;
      }
      const settings = this.connection.streamReconnect;
      if (!settings) {
        this.close(new Error(`the event stream from ${this.connection.url} ended before the subscription did`));
        return;
      }
      next = await this.reconnect(settings);
    }
  }

  /** Delivers the notices of `reading`; whether the subscription ended (else the stream dropped). */
  private async read(reading: EventReader): Promise<boolean> {
    for (;;) {
      let event: StreamEvent | undefined;
      try {
        event = await reading.next();
      } catch {
        return false;
      }
      if (event === undefined) return false;
      this.lastId = event.id;
      let parsed: Parsed;
      try {
        parsed = parseJson(event.data);
      } catch {
        continue;
      }
      const message = parsed.value as Record<string, unknown> | null;
      if (typeof message !== "object" || message === null || typeof message.method !== "string") continue;
      const notice = message.params as Record<string, unknown> | null;
      if (typeof notice !== "object" || notice === null || String(notice.subscription) !== this.items.id) continue;
      if (this.items.take(notice, parsed.marker, this.connection.named)) return true;
    }
  }

  /** Makes the call again, backing off, until it is answered; `undefined` when it will not be. */
  private async reconnect(settings: Required<ReconnectOptions>): Promise<EventReader | undefined> {
    for (let failures = 0; ; failures++) {
      if (failures >= settings.maxAttempts) {
        this.close(new Error(`the event stream from ${this.connection.url} dropped: not made again after ${failures} attempts`));
        return undefined;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, backOff(settings, failures));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
      if (this.stopped) return undefined;
      // `Last-Event-ID` resumes it after the last event received, and `since` does if it has one.
      const again = this.items.again();
      const resumes = again.resumes || this.items.received !== undefined;
      try {
        const reading = await this.connect(again.call);
        if (!resumes) this.items.gap();
        return reading;
      } catch (error) {
        if (this.stopped) return undefined;
        if (!retriable(error)) {
          this.close(error);
          return undefined;
        }
      }
    }
  }
}
