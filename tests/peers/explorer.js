// Drives the explorer page in headless Chromium (the system's, through
// playwright-core): fills forms, submits them, reads what the page shows.
// Usage: node explorer.js URL SCREENSHOT.png. Prints one JSON object.
"use strict";
const { chromium } = require("playwright-core");

const fs = require("fs");

const [url, screenshot] = process.argv.slice(2);

/** $CHROMIUM, else the first browser installed. */
function browserPath() {
  const candidates = [process.env.CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];
  return candidates.find((path) => path && fs.existsSync(path)) || "/usr/bin/chromium";
}
const origin = new URL(url).origin;

async function main() {
  const browser = await chromium.launch({
    executablePath: browserPath(),
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    // The page must need nothing but its own server.
    const elsewhere = [];
    page.on("request", (request) => {
      if (!request.url().startsWith(origin)) elsewhere.push(request.url());
    });
    const pageErrors = [];
    page.on("pageerror", (error) => pageErrors.push(String(error)));
    await page.goto(url);

    const form = (method) => page.locator(`form[data-method="${method}"]`);
    async function outcome(method) {
      const out = form(method).locator("[data-result]");
      await page.waitForFunction(
        (el) => el.dataset.outcome === "result" || el.dataset.outcome === "error",
        await out.elementHandle(),
        { timeout: 10000 },
      );
      return { outcome: await out.getAttribute("data-outcome"), text: await out.textContent() };
    }
    async function call(method, values) {
      for (const [name, value] of Object.entries(values)) {
        await form(method).locator(`[name="${name}"]`).fill(value);
      }
      const out = form(method).locator("[data-result]");
      await out.evaluate((el) => { delete el.dataset.outcome; });
      await form(method).locator("button[type=submit]").click();
      return outcome(method);
    }

    const shown = {};
    shown.fields = {};
    for (const method of ["subtract", "greet", "stats", "divide", "area"]) {
      shown.fields[method] = await form(method).locator("[name]").evaluateAll(
        (els) => els.map((el) => el.getAttribute("name")),
      );
    }
    shown.subtract = await call("subtract", { minuend: "42", subtrahend: "23" });
    shown.greet = await call("greet", { name: "Ann", title: "" });
    shown.greetTitled = await call("greet", { name: "Ann", title: "Dr" });
    shown.stats = await call("stats", { values: "[1, 2, 3.5]" });
    shown.divide = await call("divide", { a: "1", b: "0" });
    shown.area = await call("area", { shape: '{"kind": "rect", "width": 2, "height": 3}' });

    // A batch of every filled form at once: change two, send all.
    await form("subtract").locator('[name="minuend"]').fill("100");
    await form("stats").locator('[name="values"]').fill("[]");
    for (const method of ["subtract", "stats"]) {
      await form(method).locator("[data-result]").evaluate((el) => { delete el.dataset.outcome; });
    }
    await page.locator("#batch").click();
    shown.batchSubtract = await outcome("subtract");
    shown.batchStats = await outcome("stats");

    await page.screenshot({ path: screenshot, fullPage: true });
    shown.elsewhere = elsewhere;
    shown.pageErrors = pageErrors;
    console.log(JSON.stringify(shown));
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
