// Drives the wa-http web UI (demo mode) in headless Debian chromium with playwright-core.
// Started by run.sh with WA_HTTP_URL, UI_ARTIFACTS and UI_PROFILE set.
import { chromium } from "playwright-core";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import assert from "node:assert/strict";

const base = process.env.WA_HTTP_URL;
const artifacts = process.env.UI_ARTIFACTS || "ui-artifacts";
const profile = process.env.UI_PROFILE || `/tmp/wa-http-ui-${process.pid}`;
assert.ok(base, "WA_HTTP_URL is required");
mkdirSync(artifacts, { recursive: true });

const step = (msg) => console.log(`ui-test: ${msg}`);
const T = 30_000;

const context = await chromium.launchPersistentContext(profile, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
  viewport: { width: 1280, height: 900 },
});
const page = context.pages()[0] || (await context.newPage());
const consoleErrors = [];
page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
page.on("pageerror", (e) => consoleErrors.push(String(e)));
page.on("dialog", (d) => d.accept());

try {
  step("open the page");
  await page.goto(base);
  await page.getByTestId("demo-banner").waitFor({ state: "visible", timeout: T });
  assert.match(await page.getByTestId("demo-banner").innerText(), /DEMO MODE/);
  await page.getByTestId("inbox-panel").waitFor({ state: "visible", timeout: T });

  step("create a session");
  await page.getByTestId("new-session-name").fill("ui1");
  await page.getByTestId("create-session").click();
  const card = page.getByTestId("session-ui1");
  const badge = card.getByTestId("status-badge");
  await card.waitFor({ timeout: T });

  step("see the QR code");
  await page.waitForFunction(
    () => document.querySelector('[data-testid="session-ui1"] [data-testid="status-badge"]')?.textContent === "SCAN_QR_CODE",
    null, { timeout: T });
  const qr = card.getByTestId("qr");
  await qr.waitFor({ state: "visible", timeout: T });
  await page.waitForFunction(
    () => (document.querySelector('[data-testid="session-ui1"] [data-testid="qr"]')?.getAttribute("src") || "").startsWith("data:image/png;base64,"),
    null, { timeout: T });
  const qrText1 = await qr.getAttribute("data-qr");
  assert.ok(qrText1 && qrText1.includes(","), `QR text ${qrText1}`);
  const box = await qr.boundingBox();
  assert.ok(box && box.width > 100, "the QR image is shown");
  // The PNG the QR endpoint serves doubles as the image to send later.
  const png = Buffer.from(await (await fetch(`${base}/api/sessions/ui1/qr`)).arrayBuffer());
  assert.equal(png.subarray(1, 4).toString(), "PNG");
  await page.screenshot({ path: join(artifacts, "qr.png"), fullPage: true });

  step("scan with the simulated phone");
  await card.getByTestId("scan-demo").click();
  await page.waitForFunction(
    () => document.querySelector('[data-testid="session-ui1"] [data-testid="status-badge"]')?.textContent === "WORKING",
    null, { timeout: T });
  assert.equal(await badge.innerText(), "WORKING");
  await assert.doesNotReject(card.getByTestId("qr").waitFor({ state: "hidden", timeout: T }));

  step("send a text");
  const to = card.getByTestId("send-to");
  assert.equal(await to.inputValue(), "+15550002222", "the demo recipient is prefilled");
  await card.getByTestId("send-text").fill("Hello from the browser");
  await card.getByTestId("send-text-btn").click();
  const result = card.getByTestId("send-result");
  await page.waitForFunction(
    () => /Text sent/.test(document.querySelector('[data-testid="session-ui1"] [data-testid="send-result"]')?.textContent || ""),
    null, { timeout: T });
  assert.match(await result.innerText(), /15550002222@s\.whatsapp\.net/);

  step("send an image with a caption");
  await card.getByTestId("send-file").setInputFiles({ name: "picture.png", mimeType: "image/png", buffer: png });
  await card.getByTestId("send-caption").fill("caption from the browser");
  await card.getByTestId("send-image-btn").click();
  await page.waitForFunction(
    () => /Image sent/.test(document.querySelector('[data-testid="session-ui1"] [data-testid="send-result"]')?.textContent || ""),
    null, { timeout: T });

  step("see both in the recipient's inbox");
  await page.waitForFunction(() => {
    const items = [...document.querySelectorAll('[data-testid="inbox"] li')].map((li) => li.textContent);
    return items.some((t) => t.includes("Hello from the browser")) && items.some((t) => t.includes("caption from the browser"));
  }, null, { timeout: T });
  const imageItem = page.locator('[data-testid="inbox"] li[data-type="image"]');
  assert.match(await imageItem.first().innerText(), new RegExp(`image/png, ${png.length} bytes`));
  await page.screenshot({ path: join(artifacts, "main.png"), fullPage: true });

  step("errors are shown");
  await page.getByTestId("new-session-name").fill("ui1");
  await page.getByTestId("create-session").click();
  await page.waitForFunction(() => /already exists/.test(document.querySelector('[data-testid="errors"]')?.textContent || ""), null, { timeout: T });
  await card.getByTestId("send-text").fill("no recipient");
  await to.fill("not a number");
  await card.getByTestId("send-text-btn").click();
  await page.waitForFunction(
    () => /Not sent: .*invalid_phone_number/.test(document.querySelector('[data-testid="session-ui1"] [data-testid="send-result"]')?.textContent || ""),
    null, { timeout: T });

  step("restart with a new QR");
  await card.locator("button.logout").click();
  await page.waitForFunction(
    () => document.querySelector('[data-testid="session-ui1"] [data-testid="status-badge"]')?.textContent === "SCAN_QR_CODE",
    null, { timeout: T });
  await page.waitForFunction(
    (old) => {
      const img = document.querySelector('[data-testid="session-ui1"] [data-testid="qr"]');
      return img && img.dataset.qr && img.dataset.qr !== old && (img.getAttribute("src") || "").startsWith("data:image/png");
    },
    qrText1, { timeout: T });

  step("stop, start, scan again");
  await card.locator("button.stop").click();
  await page.waitForFunction(() => document.querySelector('[data-testid="session-ui1"] [data-testid="status-badge"]')?.textContent === "STOPPED", null, { timeout: T });
  await card.locator("button.start").click();
  await page.waitForFunction(() => document.querySelector('[data-testid="session-ui1"] [data-testid="status-badge"]')?.textContent === "SCAN_QR_CODE", null, { timeout: T });
  await card.getByTestId("scan-demo").click();
  await page.waitForFunction(() => document.querySelector('[data-testid="session-ui1"] [data-testid="status-badge"]')?.textContent === "WORKING", null, { timeout: T });

  step("phone-sized screen");
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(300);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `horizontal overflow of ${overflow}px on a phone-sized screen`);
  await page.screenshot({ path: join(artifacts, "main-phone.png"), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });

  step("delete");
  await card.locator("button.delete").click();
  await card.waitFor({ state: "detached", timeout: T });
  const sessions = await (await fetch(`${base}/api/sessions`)).json();
  assert.deepEqual(sessions, []);

  assert.deepEqual(consoleErrors.filter((e) => !/status of 4\d\d/.test(e)), [], "no script errors in the page");
  step("all passed");
} catch (e) {
  await page.screenshot({ path: join(artifacts, "failure.png"), fullPage: true }).catch(() => {});
  writeFileSync(join(artifacts, "failure.html"), await page.content().catch(() => ""));
  console.error(e);
  process.exitCode = 1;
} finally {
  await context.close();
}
