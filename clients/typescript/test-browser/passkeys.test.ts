/**
 * Passkeys on Tessera's pages in Chromium, with the DevTools virtual authenticator (a CTAP2
 * platform authenticator with resident keys and user verification): register one on /account,
 * sign out, sign in with the passkey alone, then sign in with the password and use the passkey
 * as the second step. The relying party is `localhost` (passkeys are off on an IP host, and
 * http://localhost is a secure context), so the browser visits the site by that name.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import type { Browser, BrowserContext, CDPSession, Page } from "playwright-core";

import { startSite, type Site } from "../test/support/site.js";
import { PASSWORD, startTessera, uniqueEmail, type Tessera } from "../test/support/tessera.js";
import { eventually, launchChromium } from "./support.js";

let browser: Browser;
let site: Site;
let tessera: Tessera;
let origin: string;

before(async () => {
  browser = await launchChromium();
  site = await startSite({});
  origin = site.url.replace("127.0.0.1", "localhost");
  tessera = await startTessera({ publicUrl: origin });
  site.tessera = tessera.url;
});
after(async () => {
  await site?.close();
  await tessera?.stop();
  await browser?.close();
});

interface Authenticator {
  cdp: CDPSession;
  id: string;
}

/** A browser with one virtual platform authenticator that says yes to every ceremony. */
async function browserWithAuthenticator(): Promise<{ context: BrowserContext; page: Page; authenticator: Authenticator }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { context, page, authenticator: { cdp, id: authenticatorId } };
}

async function credentials(authenticator: Authenticator): Promise<Array<{ isResidentCredential: boolean }>> {
  const { credentials } = await authenticator.cdp.send("WebAuthn.getCredentials", { authenticatorId: authenticator.id });
  return credentials;
}

/** Whether the authenticator confirms user presence by itself (a user touching it). */
async function presence(authenticator: Authenticator, enabled: boolean): Promise<void> {
  await authenticator.cdp.send("WebAuthn.setAutomaticPresenceSimulation", { authenticatorId: authenticator.id, enabled });
}

/** The page's own session, as the API sees it; null without one. */
async function currentSessionOrNull(page: Page): Promise<{ amr: string[]; aal: number } | null> {
  const body = await page.evaluate(async () => {
    const r = await fetch("/v1/session", { credentials: "same-origin" });
    return r.ok ? await r.json() : null;
  });
  return body === null ? null : body.session;
}

async function currentSession(page: Page): Promise<{ amr: string[]; aal: number }> {
  const session = await currentSessionOrNull(page);
  assert.ok(session, "the browser has a live session");
  return session;
}

async function signInWithPassword(page: Page, email: string): Promise<void> {
  await page.goto(`${origin}/login`);
  await page.fill("#email", email);
  await page.fill("#password", PASSWORD);
  await Promise.all([page.waitForURL((url) => url.pathname !== "/login"), page.click("form[action='/login'] button[type=submit]")]);
}

async function signOut(page: Page): Promise<void> {
  await Promise.all([page.waitForURL((url) => url.pathname === "/login"), page.locator("form[action='/logout'] button").first().click()]);
}

describe("passkeys in Chromium", () => {
  test("register on /account, sign in with the passkey alone, and use it as the second step", async () => {
    const email = uniqueEmail("passkey");
    const created = await fetch(`${tessera.url}/v1/users`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password: PASSWORD }),
    });
    assert.equal(created.status, 201, await created.text());

    const { context, page, authenticator } = await browserWithAuthenticator();
    try {
      await signInWithPassword(page, email);
      assert.equal(new URL(page.url()).pathname, "/account");
      assert.deepEqual((await currentSession(page)).amr, ["pwd"]);

      // Register: the button appears only with JavaScript and WebAuthn.
      await page.fill("#passkey-name", "Test laptop");
      await Promise.all([
        page.waitForURL((url) => url.searchParams.get("done") === "passkey_added"),
        page.click("#passkey-add"),
      ]);
      const stored = await credentials(authenticator);
      assert.equal(stored.length, 1, "the authenticator holds one credential");
      assert.ok(stored[0]?.isResidentCredential, "a discoverable credential");
      assert.match(await page.locator("body").innerText(), /Test laptop/);

      // Sign out. The sign-in page offers passkeys in the e-mail field's autofill (conditional
      // mediation); the virtual authenticator answers at once, as a user picking the passkey
      // from the autofill list would: signed in with the passkey and nothing else.
      await signOut(page);
      await page.waitForURL((url) => url.pathname === "/account");
      const passwordless = await currentSession(page);
      assert.equal(passwordless.aal, 2, `passkey with user verification: ${JSON.stringify(passwordless)}`);
      assert.ok(passwordless.amr.includes("user"), JSON.stringify(passwordless.amr));
      assert.ok(!passwordless.amr.includes("pwd"), "no password was used");

      // The passkey is now a second factor: the password alone yields the second step, which
      // the passkey completes. The authenticator holds back while the password is typed, so the
      // autofill offer stays open and unanswered.
      await presence(authenticator, false);
      await signOut(page);
      await page.fill("#email", email);
      await page.fill("#password", PASSWORD);
      await page.click("form[action='/login'] button[type=submit]");
      await page.locator("#passkey-second-step").waitFor({ state: "visible" });
      assert.equal(await currentSessionOrNull(page), null, "the password step opened no session");
      await presence(authenticator, true);
      await Promise.all([page.waitForURL((url) => url.pathname === "/account"), page.click("#passkey-second-step")]);
      const twoStep = await currentSession(page);
      assert.equal(twoStep.aal, 2);
      assert.ok(twoStep.amr.includes("pwd") && twoStep.amr.includes("mfa"), JSON.stringify(twoStep.amr));
    } finally {
      await context.close();
    }
    await eventually(async () => (await tessera.events("factor_enabled")).length > 0, "the registration is audited");
  });
});
