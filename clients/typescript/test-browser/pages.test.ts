/**
 * Tessera's server-rendered pages in Chromium with JavaScript off: sign-up, sign-in, the account
 * page, signing out a session from another browser, sign-out, `return_to`, and the CSRF defences
 * of the forms. Screenshots of the sign-in and account pages go to test-artifacts/.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import type { Browser, BrowserContext, Page } from "playwright-core";

import { startSite, type Site } from "../test/support/site.js";
import { PASSWORD, packageRoot, uniqueEmail } from "../test/support/tessera.js";
import { artifacts, launchChromium, stage, type Stage } from "./support.js";

let browser: Browser;
let world: Stage;
let attacker: Site;

before(async () => {
  browser = await launchChromium();
  world = await stage({});
  // Another origin on the same host (same site, so SameSite=Lax cookies do go along).
  attacker = await startSite({ "/": join(packageRoot, "test-browser", "page") });
});
after(async () => {
  await attacker?.close();
  await world?.close();
  await browser?.close();
});

const DESKTOP = { width: 1280, height: 800 };
const MOBILE = { width: 375, height: 740 };

async function noScriptContext(viewport = DESKTOP): Promise<BrowserContext> {
  return browser.newContext({ javaScriptEnabled: false, viewport, userAgent: `Chromium test ${viewport.width}px` });
}

async function signIn(page: Page, email: string, returnTo?: string): Promise<void> {
  const query = returnTo === undefined ? "" : `?return_to=${encodeURIComponent(returnTo)}`;
  await page.goto(`${world.site.url}/login${query}`);
  await page.fill("#email", email);
  await page.fill("#password", PASSWORD);
  await Promise.all([page.waitForURL((url) => url.pathname !== "/login"), page.click("button[type=submit]")]);
}

function path(page: Page): string {
  const url = new URL(page.url());
  return `${url.pathname}${url.search}`;
}

describe("the pages, without JavaScript", () => {
  test("sign-up, account, sign out one session from another browser, sign out, return_to", async () => {
    const email = uniqueEmail("pages");
    const first = await noScriptContext();
    const page = await first.newPage();

    await page.goto(`${world.site.url}/signup`);
    assert.equal(await page.locator("h1").textContent(), "Create an account");
    await page.fill("#email", email);
    await page.fill("#password", PASSWORD);
    await Promise.all([page.waitForURL("**/account"), page.click("button[type=submit]")]);
    assert.match((await page.locator("body").textContent()) ?? "", new RegExp(`Signed in as ${email}`));
    assert.equal(await page.locator("tbody tr").count(), 1);
    assert.equal(await page.locator("tbody tr .tag").textContent(), "this device");

    // A second browser signs in: both sessions are listed.
    const second = await noScriptContext(MOBILE);
    const other = await second.newPage();
    await signIn(other, email);
    assert.equal(path(other), "/account");
    assert.equal(await other.locator("tbody tr").count(), 2);
    await page.reload();
    assert.equal(await page.locator("tbody tr").count(), 2);

    // Screenshots with two sessions listed: desktop and a 375 px phone.
    await page.screenshot({ path: join(artifacts, "account-desktop.png"), fullPage: true });
    await other.screenshot({ path: join(artifacts, "account-375.png"), fullPage: true });

    // The second browser signs the first one out, from the first one's row.
    const firstRow = other.locator("tbody tr", { hasNot: other.locator(".tag") });
    await Promise.all([other.waitForURL("**/account?done=revoked"), firstRow.locator("button").click()]);
    assert.match((await other.locator(".notice").textContent()) ?? "", /That session was signed out/);
    assert.equal(await other.locator("tbody tr").count(), 1);

    // The first browser is signed out: the account page sends it to sign in and back.
    await page.goto(`${world.site.url}/account`);
    assert.equal(path(page), "/login?return_to=/account");
    await page.screenshot({ path: join(artifacts, "login-desktop.png"), fullPage: true });
    await page.fill("#email", email);
    await page.fill("#password", PASSWORD);
    await Promise.all([page.waitForURL("**/account"), page.click("button[type=submit]")]);
    assert.equal(path(page), "/account");

    // Sign out with the page's own button.
    await Promise.all([
      page.waitForURL("**/login"),
      page.locator("form[action='/logout'] button").first().click(),
    ]);
    await page.goto(`${world.site.url}/account`);
    assert.equal(new URL(page.url()).pathname, "/login");

    const phone = await (await noScriptContext(MOBILE)).newPage();
    await phone.goto(`${world.site.url}/login`);
    await phone.screenshot({ path: join(artifacts, "login-375.png"), fullPage: true });

    // return_to: a same-origin path is followed, another origin is not.
    await signIn(page, email, "/account?done=others");
    assert.equal(path(page), "/account?done=others");
    await signIn(page, email, "https://evil.example/steal");
    assert.equal(path(page), "/account");
    assert.equal(new URL(page.url()).origin, world.site.url);

    // A wrong password shows the form again, with one message.
    await page.goto(`${world.site.url}/login`);
    await page.fill("#email", email);
    await page.fill("#password", "not the password");
    const [answer] = await Promise.all([page.waitForResponse("**/login"), page.click("button[type=submit]")]);
    assert.equal(answer.status(), 401);
    assert.match((await page.locator(".error").textContent()) ?? "", /incorrect/);
    await Promise.all([first.close(), second.close(), phone.context().close()]);
  });

  test("change password from the account page signs out the other sessions", async () => {
    const email = uniqueEmail("password");
    const context = await noScriptContext();
    const page = await context.newPage();
    await page.goto(`${world.site.url}/signup`);
    await page.fill("#email", email);
    await page.fill("#password", PASSWORD);
    await Promise.all([page.waitForURL("**/account"), page.click("button[type=submit]")]);
    const otherContext = await noScriptContext();
    const other = await otherContext.newPage();
    await signIn(other, email);

    await page.reload();
    await page.fill("#current_password", PASSWORD);
    await page.fill("#new_password", `${PASSWORD} again`);
    await Promise.all([page.waitForURL("**/account?done=password"), page.click("form[action='/account/password'] button")]);
    assert.equal(await page.locator("tbody tr").count(), 1, "only this device is left");
    await other.goto(`${world.site.url}/account`);
    assert.equal(new URL(other.url()).pathname, "/login");
    await Promise.all([context.close(), otherContext.close()]);
  });

  test("CSRF: a tampered form token and a cross-origin form are refused", async () => {
    const email = uniqueEmail("csrf");
    const context = await browser.newContext(); // JavaScript on, to tamper and to forge
    const page = await context.newPage();
    await page.goto(`${world.site.url}/signup`);
    await page.fill("#email", email);
    await page.fill("#password", PASSWORD);
    await Promise.all([page.waitForURL("**/account"), page.click("button[type=submit]")]);

    // A sign-in form whose token does not match its pre-session cookie.
    const login = await (await browser.newContext()).newPage();
    await login.goto(`${world.site.url}/login`);
    await login.fill("#email", email);
    await login.fill("#password", PASSWORD);
    await login.evaluate(() => {
      (document.querySelector("input[name=csrf_token]") as HTMLInputElement).value = "forged";
    });
    const [refused] = await Promise.all([login.waitForResponse("**/login"), login.click("button[type=submit]")]);
    assert.equal(refused.status(), 403);

    // A page on another origin posts "sign out everywhere" with the victim's cookies.
    const forged = await context.newPage();
    await forged.goto(`${attacker.url}/blank.html`);
    await forged.evaluate((target) => {
      const form = document.createElement("form");
      form.method = "post";
      form.action = `${target}/logout`;
      const token = document.createElement("input");
      token.name = "csrf_token";
      token.value = "guessed";
      const go = document.createElement("button");
      go.id = "go";
      form.append(token, go);
      document.body.append(form);
    }, world.site.url);
    const [crossSite] = await Promise.all([
      forged.waitForResponse((r) => r.url().startsWith(world.site.url)),
      forged.click("#go"),
    ]);
    assert.equal(crossSite.status(), 403);
    await page.goto(`${world.site.url}/account`);
    assert.equal(new URL(page.url()).pathname, "/account", "still signed in");
    await Promise.all([context.close(), login.context().close()]);
  });
});
