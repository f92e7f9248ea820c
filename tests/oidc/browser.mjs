#!/usr/bin/env node
// Social sign-in in headless Chromium (Debian's /usr/bin/chromium, or $CHROMIUM): Sigil's web UI
// with a real OpenID Connect provider (oidc-provider, its development login and consent pages).
// Clicks "Continue with Local IdP", signs in at the provider, lands on the tasks page, adds a
// task (the JWT works), links a second provider on the account page and unlinks it; a sign-up
// attempt whose provider email is unverified and taken ends on the sign-in page with the reason.
//
//   node tests/oidc/browser.mjs --sigil target/debug/sigil
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";
import { startIdp } from "./idp.mjs";
import { deadline, freePort, startSigil } from "./lib.mjs";

const { values } = parseArgs({ options: { sigil: { type: "string" } } });
if (!values.sigil) {
  console.error("oidc browser: --sigil PATH is required");
  process.exit(2);
}
deadline(120000);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
if (!existsSync(executablePath)) throw new Error(`no Chromium at ${executablePath} (apt-get install -y chromium)`);

const tmp = mkdtempSync(join(tmpdir(), "sigil-oidc-browser-"));
const idpPort = await freePort();
const port = await freePort();
const clients = ["local", "partner"].map((p) => ({ id: `${p}-client`, secret: `${p}-secret-0123456789`, redirect: `http://127.0.0.1:${port}/api/auth/callback/${p}` }));
const idp = await startIdp({ port: idpPort, clients });
const sigil = await startSigil(values.sigil, port, idp, tmp);
const browser = await chromium.launch({ executablePath, args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"] });
let failed = false;

async function step(name, work) {
  const t0 = Date.now();
  try {
    await work();
    console.log(`  ✓ ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    console.log(`  ✗ ${name}: ${e.message}`);
    failed = true;
    throw e;
  }
}

/** The provider's pages: log in as `login` (when asked) and consent. */
async function atProvider(page, login) {
  await page.waitForURL((u) => u.origin === idp.issuer);
  for (let i = 0; i < 4 && new URL(page.url()).origin === idp.issuer; i++) {
    const loginBox = page.locator('input[name="login"]');
    if (await loginBox.count()) {
      await loginBox.fill(login);
      await page.fill('input[name="password"]', "any");
    }
    await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
  }
}

try {
  const context = await browser.newContext();
  const page = await context.newPage();
  await step("sign-in page offers the configured providers", async () => {
    await page.goto(`${sigil.origin}/sign-in`);
    await page.getByRole("button", { name: "Continue with Local IdP" }).waitFor();
    await page.getByRole("button", { name: "Continue with Partner" }).waitFor();
  });
  await step('"Continue with Local IdP" signs up at the provider and lands on the tasks page', async () => {
    await page.getByRole("button", { name: "Continue with Local IdP" }).click();
    await atProvider(page, "ada");
    await page.waitForURL(`${sigil.origin}/tasks`);
    await page.locator("[data-user-name]").filter({ hasText: "Ada Lovelace" }).waitFor();
  });
  await step("the tasks API accepts the social session's JWT", async () => {
    const title = `Social task ${Date.now()}`;
    const input = page.locator('input[name="title"]').first();
    await input.fill(title);
    await input.press("Enter");
    await page.getByText(title).waitFor();
  });
  await step("the account page links a second provider, then unlinks it", async () => {
    await page.goto(`${sigil.origin}/account`);
    const list = page.locator("[data-linked-list]");
    await list.locator('[data-account="local"]').waitFor();
    await page.getByRole("button", { name: "Link Partner" }).click();
    await atProvider(page, "ada");
    await page.waitForURL(`${sigil.origin}/account`);
    await list.locator('[data-account="partner"]').waitFor();
    await list.locator('[data-account="partner"]').getByRole("button", { name: "Unlink" }).click();
    await list.locator('[data-account="partner"]').waitFor({ state: "detached" });
    await list.locator('[data-account="local"]').getByRole("button", { name: "Unlink" }).click();
    await page.locator("[data-linked-error]").filter({ hasText: /last/i }).waitFor();
  });
  await step("an unverified provider email for a taken address is refused with the reason", async () => {
    const other = await browser.newContext();
    const p2 = await other.newPage();
    await p2.goto(`${sigil.origin}/sign-up`);
    await p2.fill('input[name="name"]', "Victim");
    await p2.fill('input[name="email"]', "victim@example.com");
    await p2.fill('input[name="password"]', "victim password 123");
    await Promise.all([p2.waitForURL((u) => !u.pathname.startsWith("/sign-up")), p2.click('button[type="submit"]')]);
    const attacker = await browser.newContext();
    const p3 = await attacker.newPage();
    await p3.goto(`${sigil.origin}/sign-in`);
    await p3.getByRole("button", { name: "Continue with Local IdP" }).click();
    await atProvider(p3, "mallory");
    await p3.waitForURL((u) => u.pathname === "/sign-in" && u.searchParams.get("error") === "account_not_linked");
    await p3.locator("[data-form-error]").filter({ hasText: "already exists" }).waitFor();
  });
} catch {
  failed = true;
} finally {
  await browser.close();
  sigil.stop();
  await idp.close();
  rmSync(tmp, { recursive: true, force: true });
}
if (failed) {
  console.error(sigil.output().slice(-3000));
  process.exit(1);
}
console.log("oidc browser: social sign-in, linking and unlinking work in Chromium");
process.exit(0);
