// Drives the Bolide console in headless Chromium (playwright-core) through one scenario and prints
// one JSON line: {"ok": true, ...} or {"ok": false, "error": "..."}.
// Usage: node console_e2e.js <scenario> <json args>. Scenarios: topic_and_id, key, dlq_resend, escaping.
const { chromium } = require("playwright-core");

const [scenario, argJson] = process.argv.slice(2);
const args = JSON.parse(argJson);
const T = 30000;

async function run(page) {
  await page.goto(args.url + "/", { timeout: T });
  await page.waitForSelector("#cluster-table", { timeout: T });
  if (scenario === "topic_and_id") {
    await page.click("#tab-topics");
    const row = page.locator(`#topics-table tr[data-topic="${args.topic}"]`);
    await row.waitFor({ timeout: T });
    const rowText = await row.innerText();
    await page.click("#tab-messages");
    await page.fill("#msg-id", args.msgId);
    await page.click("#msg-search");
    const card = page.locator(`.message[data-msgid="${args.msgId}"]`);
    await card.waitFor({ timeout: T });
    const body = await card.locator("pre.body").innerText(), via = await page.locator("#msg-status").innerText();
    await page.click("#tab-groups");
    const group = page.locator(`[data-group="${args.group}"]`);
    await group.waitFor({ timeout: T });
    const groupText = await group.innerText();
    await page.click("#tab-charts");
    // The live charts draw from /api/stats, sampled once a second.
    await page.waitForFunction(async () => (await (await fetch("/api/stats")).json()).points.length >= 1, null, { timeout: T, polling: 500 });
    await page.waitForTimeout(2500);
    const chartPoints = await page.evaluate(async () => (await (await fetch("/api/stats")).json()).points.length);
    return { rowText, body, via, groupText, chartPoints };
  }
  if (scenario === "key") {
    await page.click("#tab-messages");
    await page.fill("#key-topic", args.topic);
    await page.fill("#key-key", args.key);
    await page.click("#key-search");
    await page.waitForFunction(() => !document.querySelector("#msg-status").innerText.includes("searching"), null, { timeout: T });
    const status = await page.locator("#msg-status").innerText();
    const ids = await page.locator(".message").evaluateAll(els => els.map(e => e.getAttribute("data-msgid")));
    return { status, ids };
  }
  if (scenario === "dlq_resend") {
    await page.click("#tab-dlq");
    await page.fill("#dlq-group", args.group);
    await page.click("#dlq-load");
    const card = page.locator(`.message[data-msgid="${args.msgId}"]`);
    await card.waitFor({ timeout: T });
    await card.locator("button.resend").click();
    const result = page.locator("#resend-result");
    await result.waitFor({ timeout: T });
    return { result: await result.innerText() };
  }
  if (scenario === "trace") {
    await page.click("#tab-messages");
    await page.fill("#msg-id", args.msgId);
    await page.click("#msg-search");
    const card = page.locator(`.message[data-msgid="${args.msgId}"]`);
    await card.waitFor({ timeout: T });
    await card.locator("button", { hasText: "trace" }).click();
    const trace = card.locator("table.trace");
    await trace.waitFor({ timeout: T });
    return { trace: await trace.innerText() };
  }
  if (scenario === "escaping") {
    await page.click("#tab-messages");
    await page.fill("#msg-id", args.msgId);
    await page.click("#msg-search");
    const card = page.locator(`.message[data-msgid="${args.msgId}"]`);
    await card.waitFor({ timeout: T });
    await page.waitForTimeout(500);
    return {
      body: await card.locator("pre.body").innerText(),
      props: await card.locator("table.props").innerText(),
      injected: await page.evaluate(() => window.__injected === 1 || document.querySelectorAll("main img, main script").length > 0),
    };
  }
  throw new Error("unknown scenario " + scenario);
}

(async () => {
  let browser;
  try {
    browser = await chromium.launch({ executablePath: args.chromium, headless: true, args: ["--no-sandbox"] });
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", e => errors.push(String(e)));
    const out = await run(page);
    console.log(JSON.stringify({ ok: true, pageErrors: errors, ...out }));
  } catch (e) {
    console.log(JSON.stringify({ ok: false, error: String(e && e.stack || e) }));
  } finally {
    if (browser) await browser.close();
  }
})();
