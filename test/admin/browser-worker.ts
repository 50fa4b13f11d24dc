/**
 * Drives Debian's Chromium through playwright-core for the console tests, in a child process of its own: Playwright
 * makes the client-certificate TLS connection from Node, and Node takes extra trusted roots only from
 * NODE_EXTRA_CA_CERTS at start-up, so the test forks this with NODE_EXTRA_CA_CERTS=the test CA's root (instead of
 * ignoreHTTPSErrors). Commands arrive over IPC; each answer is { id, ok, value } or { id, ok: false, error }.
 */
import { chromium } from "playwright-core";
import type { BrowserContext, Page } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export type Command =
  | { op: "launch"; origin: string; certPath: string; keyPath: string; executablePath: string }
  | { op: "goto"; url: string }
  | { op: "click"; role: "button" | "link"; name: string }
  | { op: "press"; role: "button" | "link"; name: string; key: string }
  | { op: "fill"; label: string; value: string }
  | { op: "select"; label: string; value: string }
  | { op: "text"; selector?: string }
  | { op: "html" }
  | { op: "screenshot"; path: string; zoom200?: boolean }
  | { op: "problems" }
  | { op: "close" };

let context: BrowserContext | undefined;
let page: Page | undefined;
let profile: string | undefined;
let lastStatus = 0;
/** Console messages (CSP violations among them) and failed subresources, for the test to assert there are none. */
const problems: string[] = [];

function current(): Page {
  if (!page) throw new Error("launch first");
  return page;
}

async function launch(c: Extract<Command, { op: "launch" }>): Promise<string> {
  profile = mkdtempSync(join(tmpdir(), "certvault-chromium-"));
  // A new empty profile directory (Playwright passes it as --user-data-dir). No JavaScript at all: the console must
  // work without it.
  context = await chromium.launchPersistentContext(profile, {
    executablePath: c.executablePath,
    headless: true,
    args: CHROMIUM_FLAGS,
    javaScriptEnabled: false,
    viewport: { width: 1280, height: 900 },
    clientCertificates: [{ origin: c.origin, certPath: c.certPath, keyPath: c.keyPath }],
  });
  page = context.pages()[0] ?? (await context.newPage());
  // Chromium asks for /favicon.ico on its own (the API answers 404 there): not a page's problem.
  page.on("console", (m) => {
    if (!m.location().url.endsWith("/favicon.ico"))
      problems.push(`console ${m.type()}: ${m.text()} (${m.location().url})`);
  });
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.url()}`);
  });
  page.on("requestfailed", (r) => problems.push(`failed ${r.url()}: ${r.failure()?.errorText ?? ""}`));
  return chromium.name();
}

async function run(c: Command): Promise<unknown> {
  switch (c.op) {
    case "launch":
      return launch(c);
    case "goto": {
      const r = await current().goto(c.url);
      lastStatus = r?.status() ?? 0;
      return { status: lastStatus, title: await current().title() };
    }
    case "click":
      await current().getByRole(c.role, { name: c.name, exact: true }).click();
      await current().waitForLoadState("load");
      return { url: current().url(), title: await current().title() };
    case "press":
      // Keyboard only: focus the control, then the key (Enter submits a form).
      await current().getByRole(c.role, { name: c.name, exact: true }).focus();
      {
        const loaded = current().waitForEvent("load");
        await current().keyboard.press(c.key);
        await loaded;
      }
      return { url: current().url(), title: await current().title() };
    case "fill":
      await current().getByLabel(c.label, { exact: true }).fill(c.value);
      return null;
    case "select":
      await current().getByLabel(c.label, { exact: true }).selectOption(c.value);
      return null;
    case "text":
      return current()
        .locator(c.selector ?? "main")
        .first()
        .innerText();
    case "html":
      return current().content();
    case "screenshot":
      return screenshot(c.path, c.zoom200 === true);
    case "problems":
      return problems.splice(0);
    case "close":
      await context?.close();
      if (profile) rmSync(profile, { recursive: true, force: true });
      return null;
  }
}

/** A full-page PNG; zoom200: the same CSS layout a 1280-pixel window shows at 200 % (640 CSS pixels, scale 2). */
async function screenshot(path: string, zoom200: boolean): Promise<{ path: string; overflow: boolean }> {
  const p = current();
  if (zoom200) await p.setViewportSize({ width: 640, height: 900 });
  // Without JavaScript in the page, the width check reads layout through the accessibility-free bounding box.
  const body = await p.locator("body").boundingBox();
  await p.screenshot({ path, fullPage: true });
  const overflow = body !== null && body.width > (zoom200 ? 640 : 1280) + 1;
  if (zoom200) await p.setViewportSize({ width: 1280, height: 900 });
  return { path, overflow };
}

process.on("message", (msg: { id: number; command: Command }) => {
  run(msg.command).then(
    (value) => process.send?.({ id: msg.id, ok: true, value }),
    (err: unknown) => process.send?.({ id: msg.id, ok: false, error: (err as Error).message }),
  );
});
process.send?.({ id: 0, ok: true, value: "ready" });
