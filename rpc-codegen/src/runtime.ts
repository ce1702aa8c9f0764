// ---- The runtime: the same in every generated client. ----

/** An error answer from the server. Transport failures reject with a plain `Error`. */
export class RpcError extends Error {
  /** The JSON-RPC error code. */
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
  /** Headers of every HTTP request (browsers cannot set WebSocket headers). */
  headers?: Record<string, string>;
  /** How long a call waits for its answer, in milliseconds (default 30000). */
  timeoutMs?: number;
}

/** A call as it goes on the wire. */
interface Wire {
  method: string;
  params: unknown[] | Record<string, unknown> | undefined;
  notification: boolean;
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
  /** The id the server gave it. */
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

function __rpcWire(method: string, params: Wire["params"], notification = false): Wire {
  return { method, params, notification };
}

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
  constructor(readonly id: string, private readonly connection: Connection, private readonly unsubscribeMethod: string) {}
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
    this.connection.forget(this.id);
    this.end();
    // Over a connection that is gone, the server has forgotten it already.
    if (!this.connection.isOpen()) return false;
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

/** One connection to the server: HTTP (a request per call) or a WebSocket. */
class Connection {
  private nextId = 1;
  private readonly handlers = new Map<string, (params: unknown) => void>();
  private readonly items = new Map<string, Items<unknown>>();
  /** Notices of subscriptions not known yet (their answer is on its way). */
  private readonly early: Array<[string, Record<string, unknown>]> = [];
  /** The WebSocket in use and the calls waiting on it. */
  private current: { socket: Promise<WebSocket>; pending: Map<number | string, (answer: Answer) => void> } | undefined;
  readonly duplex: boolean;
  private readonly timeoutMs: number;

  constructor(readonly url: string, readonly options: ClientOptions) {
    this.duplex = /^wss?:\/\//i.test(url);
    if (!this.duplex && !/^https?:\/\//i.test(url)) {
      throw new Error(`unsupported URL ${url}: expected http(s):// or ws(s)://`);
    }
    this.timeoutMs = options.timeoutMs ?? 30000;
  }

  on(method: string, handler: (params: unknown) => void): void {
    if (!this.duplex) throw new Error("server notifications need a WebSocket (ws:// or wss://)");
    this.handlers.set(method, handler);
    // Open now, so that notifications come before any call; a failure
    // shows at the next call.
    this.open().catch(() => undefined);
  }

  close(): void {
    const current = this.current;
    this.current = undefined;
    if (current) void current.socket.then((s) => s.close(1000), () => undefined);
  }

  /** Whether a WebSocket is open (or opening). */
  isOpen(): boolean {
    return this.current !== undefined;
  }

  forget(id: string): void {
    this.items.delete(id);
  }

  async request(call: Wire): Promise<unknown> {
    if (call.notification) {
      await this.send(this.message(call, undefined), []);
      return undefined;
    }
    const id = this.nextId++;
    const answers = await this.send(this.message(call, id), [id]);
    return settle(answers.get(id));
  }

  async batch(calls: Wire[]): Promise<unknown[]> {
    const ids = calls.map((c) => (c.notification ? undefined : this.nextId++));
    const messages = calls.map((c, i) => this.message(c, ids[i]));
    const answers = await this.send(messages, ids.filter((id): id is number => id !== undefined));
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
    const id = String(await this.request(call));
    const items = new Items<T>(id, this, unsubscribeMethod);
    this.items.set(id, items as Items<unknown>);
    // Items that came before the answer was read.
    for (const [forId, notice] of this.early.splice(0)) {
      if (forId === id) this.deliver(id, notice);
      else this.early.push([forId, notice]);
    }
    return items;
  }

  private message(call: Wire, id: number | undefined): Record<string, unknown> {
    const m: Record<string, unknown> = { jsonrpc: "2.0", method: call.method };
    if (call.params !== undefined) m.params = call.params;
    if (id !== undefined) m.id = id;
    return m;
  }

  /** Sends a message and waits for the answers to `ids`. */
  private async send(message: unknown, ids: number[]): Promise<Map<number | string, Answer>> {
    return this.duplex ? this.sendOnSocket(message, ids) : this.post(message, ids);
  }

  private async post(message: unknown, ids: number[]): Promise<Map<number | string, Answer>> {
    const body = JSON.stringify(message);
    let response: Response;
    let text: string;
    try {
      response = await fetch(this.url, {
        method: "POST",
        headers: { "Content-Type": "application/json", ...(this.options.headers ?? {}) },
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await response.text();
    } catch (error) {
      const timedOut = error instanceof Error && error.name === "TimeoutError";
      throw new Error(timedOut ? `no answer from ${this.url} within ${this.timeoutMs} ms` : `cannot reach ${this.url}: ${String(error)}`);
    }
    const answers = new Map<number | string, Answer>();
    let parsed: unknown;
    try {
      parsed = text === "" ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const isAnswer = (a: unknown): a is Answer =>
      typeof a === "object" && a !== null && ("result" in a || (typeof (a as Answer).error === "object" && typeof (a as Answer).error?.code === "number"));
    const list = Array.isArray(parsed) ? parsed : parsed === undefined ? [] : [parsed];
    if (!response.ok && !list.some(isAnswer)) {
      throw new Error(`HTTP ${response.status} from ${this.url}: ${text.slice(0, 200)}`);
    }
    if (ids.length === 0) return answers;
    if (list.length === 0) throw new Error(`HTTP ${response.status}: not a JSON-RPC answer: ${text.slice(0, 200)}`);
    for (const answer of list) {
      if (!isAnswer(answer)) continue;
      if (answer.id !== undefined && answer.id !== null) answers.set(answer.id, answer);
      else if (answer.error && ids.length === 1) answers.set(ids[0], answer);
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
    const pending = new Map<number | string, (answer: Answer) => void>();
    const opening: Promise<WebSocket> = new Promise<WebSocket>((resolve, reject) => {
      const socket = new WebSocket(this.url);
      socket.onopen = () => resolve(socket);
      socket.onerror = () => reject(new Error(`cannot connect to ${this.url}`));
      socket.onclose = () => {
        // Only this socket's calls fail; a newer socket is not touched.
        const closed: Answer = {};
        for (const deliver of [...pending.values()]) deliver(closed);
        pending.clear();
        if (this.current?.socket !== opening) return;
        this.current = undefined;
        for (const items of this.items.values()) items.end(new Error("connection closed"));
        this.items.clear();
      };
      socket.onmessage = (event: MessageEvent) => this.receive(String(event.data), pending);
    });
    this.current = { socket: opening, pending };
    opening.catch(() => {
      if (this.current?.socket === opening) this.current = undefined;
    });
    return opening;
  }

  private receive(text: string, pending: Map<number | string, (answer: Answer) => void>): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return;
    }
    for (const message of (Array.isArray(parsed) ? parsed : [parsed]) as Array<Record<string, unknown>>) {
      if (!message || typeof message !== "object") continue;
      if (typeof message.method === "string") {
        this.notice(message.method, message.params);
      } else if (message.id !== undefined && message.id !== null) {
        const deliver = pending.get(message.id as number);
        if (deliver) deliver(message as Answer);
      }
    }
  }

  private notice(method: string, params: unknown): void {
    const p = params as Record<string, unknown> | undefined;
    if (p && typeof p === "object" && !Array.isArray(p) && "subscription" in p) {
      const id = String(p.subscription);
      if (this.items.has(id)) {
        this.deliver(id, p);
      } else if (this.handlers.has(method)) {
        this.handlers.get(method)?.(params);
      } else {
        if (this.early.length >= 256) this.early.shift();
        this.early.push([id, p]);
      }
      return;
    }
    const handler = this.handlers.get(method);
    if (handler) handler(params);
  }

  /** A subscription notice: an item, or the end. */
  private deliver(id: string, notice: Record<string, unknown>): void {
    const items = this.items.get(id);
    if (!items) return;
    if ("result" in notice) {
      items.push(notice.result);
    } else if ("error" in notice) {
      const e = notice.error as Answer["error"] | null;
      items.end(e ? new RpcError(e.code, e.message, e.data) : undefined);
      this.items.delete(id);
    }
  }

  private async sendOnSocket(message: unknown, ids: number[]): Promise<Map<number | string, Answer>> {
    const text = JSON.stringify(message);
    const socket = await this.open();
    const pending = this.current?.pending;
    if (!pending) throw new Error("connection closed");
    const answers = new Map<number | string, Answer>();
    const done = new Promise<Map<number | string, Answer>>((resolve, reject) => {
      if (ids.length === 0) return resolve(answers);
      const timer = setTimeout(() => {
        ids.forEach((id) => pending.delete(id));
        reject(new Error(`no answer from ${this.url} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      for (const id of ids) {
        pending.set(id, (answer) => {
          pending.delete(id);
          if (answer.id === undefined) {
            clearTimeout(timer);
            ids.forEach((other) => pending.delete(other));
            return reject(new Error("connection closed"));
          }
          answers.set(id, answer);
          if (answers.size === ids.length) {
            clearTimeout(timer);
            resolve(answers);
          }
        });
      }
    });
    socket.send(text);
    return done;
  }
}
