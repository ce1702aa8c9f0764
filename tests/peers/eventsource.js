// Opens event streams of the calculator from a real browser's EventSource
// (headless Chromium, the system's, through playwright-core, as explorer.js
// does), publishes from the page with fetch, drops every connection, and
// watches EventSource reconnect with Last-Event-ID by itself.
//
// Two streams of topic "news": one from the page's own origin, one from
// another origin (CORS). Both go through TCP proxies run here, in front of
// the calculator, so that the script can cut them and see each request the
// browser sends. The page's origin is the first proxy's
// (http://127.0.0.1:PAGE_PORT, which the calculator allows with
// --allowed-origin); the page itself is a blank document that proxy serves.
//
// Usage: node eventsource.js CALCULATOR_HOST:PORT PAGE_PORT. Prints one JSON
// object: each stream's events, each proxy's requests, what publish answered.
"use strict";
const { chromium } = require("playwright-core");

const fs = require("fs");
const net = require("net");

const [target, pagePort] = process.argv.slice(2);
const [targetHost, targetPort] = target.split(":");

/** $CHROMIUM, else the first browser installed. */
function browserPath() {
  const candidates = [process.env.CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];
  return candidates.find((path) => path && fs.existsSync(path)) || "/usr/bin/chromium";
}

/** The method, path and headers of a request, if `data` starts one. */
function requestOf(data) {
  const text = data.toString("latin1");
  const line = /^([A-Z]+) (\S+) HTTP\/1\.1\r\n/.exec(text);
  if (!line) return null;
  const headers = {};
  for (const field of text.split("\r\n\r\n")[0].split("\r\n").slice(1)) {
    const colon = field.indexOf(":");
    if (colon > 0) headers[field.slice(0, colon).toLowerCase()] = field.slice(colon + 1).trim();
  }
  return { method: line[1], path: line[2], headers };
}

/** The blank page, served by the first proxy itself. */
const PAGE = "<!doctype html><title>events</title>";

/**
 * A TCP proxy on `port` (0: any) to the calculator that can drop every
 * connection; it answers `GET /app.html` itself, with the blank page (and
 * the browser's `GET /favicon.ico`, with nothing).
 */
function proxy(port) {
  const sockets = new Set();
  const requests = [];
  const server = net.createServer((client) => {
    sockets.add(client);
    let upstream = null;
    const end = () => {
      client.destroy();
      if (upstream) upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("close", end);
    client.on("error", end);
    client.on("data", (data) => {
      const request = requestOf(data);
      if (request) requests.push(request);
      if (!upstream && request && request.path === "/app.html") {
        client.end(
          "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n" +
            `Content-Length: ${PAGE.length}\r\n\r\n${PAGE}`,
        );
        return;
      }
      if (!upstream && request && request.path === "/favicon.ico") {
        client.end("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        return;
      }
      if (!upstream) {
        upstream = net.connect(Number(targetPort), targetHost);
        sockets.add(upstream);
        upstream.on("data", (answer) => client.write(answer));
        upstream.on("close", end);
        upstream.on("error", end);
      }
      upstream.write(data);
    });
  });
  return new Promise((resolve, reject) => {
    server.on("error", reject);
    server.listen(Number(port), "127.0.0.1", () =>
      resolve({
        origin: `http://127.0.0.1:${server.address().port}`,
        requests,
        drop() {
          for (const socket of sockets) socket.destroy();
          sockets.clear();
        },
        close() {
          server.close();
        },
      }),
    );
  });
}

async function main() {
  const own = await proxy(pagePort);
  const other = await proxy(0);
  const browser = await chromium.launch({
    executablePath: browserPath(),
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  const report = {};
  try {
    const page = await browser.newPage();
    const pageErrors = [];
    page.on("pageerror", (error) => pageErrors.push(String(error)));
    // What the browser logs (a stream cut shows there).
    const consoleErrors = [];
    page.on("console", (message) => {
      if (message.type() === "error") consoleErrors.push(message.text());
    });
    await page.goto(`${own.origin}/app.html`);
    await page.evaluate((bases) => {
      window.streams = {};
      window.sources = {};
      for (const [name, base] of Object.entries(bases)) {
        const stream = { events: [], opens: 0, errors: 0 };
        const params = encodeURIComponent(JSON.stringify(["news"]));
        const source = new EventSource(`${base}/?method=subscribe_topic&params=${params}`);
        source.onopen = () => { stream.opens += 1; };
        source.onerror = () => { stream.errors += 1; stream.stateAfterError = source.readyState; };
        source.onmessage = (event) => {
          stream.events.push({ data: JSON.parse(event.data), lastEventId: event.lastEventId });
        };
        window.streams[name] = stream;
        window.sources[name] = source;
      }
      // Publishes from the page, to its own origin.
      window.publish = async (n) => {
        const response = await fetch("/", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ jsonrpc: "2.0", method: "publish", params: ["news", { n }], id: n }),
        });
        return (await response.json()).result;
      };
    }, { own: own.origin, other: other.origin });

    const publish = (n) => page.evaluate((n) => window.publish(n), n);
    // What the streams and proxies saw, for a failure's message.
    const state = async () => JSON.stringify({
      streams: await page.evaluate(() => window.streams),
      requests: { own: own.requests, other: other.requests },
      pageErrors,
      consoleErrors,
    });
    const until = async (what, condition, arg) => {
      try {
        await page.waitForFunction(condition, arg, { timeout: 10000 });
      } catch (error) {
        throw new Error(`${what}: ${error.message}\n${await state()}`);
      }
    };
    const received = (count) => until(
      `${count} events on each stream`,
      (count) => Object.values(window.streams).every((s) => s.events.length >= count),
      count,
    );

    await received(1); // the answers: both subscribed
    report.published = [await publish(1), await publish(2)];
    await received(3);

    // Every connection dropped: each EventSource reports an error and
    // reconnects by itself (after its reconnection time), sending the id of
    // the last event it saw.
    own.drop();
    other.drop();
    await until("an error on each stream", () => Object.values(window.streams).every((s) => s.errors >= 1));
    // Published while the streams are down (or going down).
    report.meanwhile = [await publish(3), await publish(4)];
    await received(6); // the new answers, then 3 and 4
    report.live = await publish(5);
    await received(7);

    report.streams = await page.evaluate(() => {
      const out = {};
      for (const [name, stream] of Object.entries(window.streams)) {
        out[name] = { ...stream, readyState: window.sources[name].readyState };
        window.sources[name].close();
      }
      return out;
    });
    report.requests = { own: own.requests, other: other.requests };
    report.pageOrigin = own.origin;
    report.pageErrors = pageErrors;
    report.consoleErrors = consoleErrors;
    console.log(JSON.stringify(report));
  } finally {
    await browser.close();
    own.close();
    other.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
