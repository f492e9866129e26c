/**
 * The SDK in Chromium, through the README's SPA example served from Tessera's origin, calling the
 * README's resource-server example at /api/me: two tabs whose access tokens expire together
 * cause exactly one refresh at the server, with Web Locks and with the BroadcastChannel
 * fallback; sign-out in one tab ends the other cleanly; the cookie mode sends the CSRF token.
 */
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import type { Browser, BrowserContext, Page } from "playwright-core";

import { startApi } from "../examples/resource-server.js";
import { PASSWORD, packageRoot, uniqueEmail } from "../test/support/tessera.js";
import { eventually, launchChromium, stage, type Stage } from "./support.js";

declare global {
  interface Window {
    app: typeof import("../examples/spa.js");
    TesseraClient: typeof import("@tessera/client").TesseraClient;
    events: unknown[];
  }
}

let browser: Browser;
let world: Stage;
let api: Awaited<ReturnType<typeof startApi>>;

before(async () => {
  browser = await launchChromium();
  world = await stage(
    {
      "/sdk/": join(packageRoot, "dist"),
      "/examples/": join(packageRoot, "build", "examples"),
      "/app/": join(packageRoot, "test-browser", "page"),
    },
    // Access tokens that expire while the test watches; no leeway, so expiry means a 401.
    { token: { access_ttl: "2s", leeway: "0s" } },
  );
  const client = await world.tessera.addClient("spa-api");
  api = await startApi({
    issuer: world.site.url,
    servers: [world.tessera.url],
    clientId: client.client_id,
    clientSecret: client.client_secret,
    accessTtlSeconds: 2,
    leewaySeconds: 0,
    warn: () => {},
  });
  if (!api.server.listening) await new Promise((r) => api.server.once("listening", r));
  world.site.api = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
  assert.equal(await api.guard.waitInSync(20_000), true);
});
after(async () => {
  api?.guard.close();
  api?.server.close();
  await world?.close();
  await browser?.close();
});

async function openApp(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  page.on("pageerror", (error) => console.error("page error:", error));
  await page.goto(`${world.site.url}/app/`);
  await page.waitForFunction(() => document.body.dataset.loaded === "true");
  return page;
}

async function signedInTabs(context: BrowserContext): Promise<[Page, Page]> {
  const email = uniqueEmail("spa");
  const one = await openApp(context);
  await one.evaluate(
    async ([email, password]) => {
      await window.app.tessera.signUp(email!, password!);
      await window.app.signIn(email!, password!);
    },
    [email, PASSWORD],
  );
  const two = await openApp(context); // restore() finds the sign-in of the first tab
  assert.equal(await two.evaluate(() => window.app.tessera.signedIn), true);
  return [one, two];
}

async function accessCookieGone(context: BrowserContext): Promise<void> {
  await eventually(
    async () => !(await context.cookies()).some((c) => c.name === "tessera_at"),
    "the access-token cookie expired",
  );
}

/**
 * Makes the race certain: the first /api/me goes through; any later one waits until a refresh
 * has reached the server, and that refresh waits until the later /api/me has been answered. So
 * both tabs hold a 401 while the first tab's refresh is in flight.
 */
function forceOverlap(): { unauthorized: () => number } {
  let refreshArrived!: () => void;
  const arrived = new Promise<void>((r) => (refreshArrived = r));
  let secondAnswered!: () => void;
  const answered = new Promise<void>((r) => (secondAnswered = r));
  let apiCalls = 0;
  let unauthorized = 0;
  const site = world.site;
  site.beforeForward = async (request) => {
    if (request.path === "/api/me" && ++apiCalls > 1) await arrived;
    if (request.grantType === "refresh_token") {
      refreshArrived();
      await Promise.race([answered, new Promise((r) => setTimeout(r, 20_000))]);
    }
  };
  site.afterForward = (request) => {
    if (request.path === "/api/me" && request.status === 401 && ++unauthorized === 2) secondAnswered();
  };
  return { unauthorized: () => unauthorized };
}

function profile(page: Page) {
  return page.evaluate(() => window.app.loadProfile());
}

async function twoTabsOneRefresh(context: BrowserContext): Promise<void> {
  const [one, two] = await signedInTabs(context);
  const [a, b] = await Promise.all([profile(one), profile(two)]);
  assert.equal(a.session, b.session, "one session, shared by the tabs");

  await accessCookieGone(context);
  const before = world.site.refreshes();
  const overlap = forceOverlap();
  try {
    const [x, y] = await Promise.all([profile(one), profile(two)]);
    assert.equal(overlap.unauthorized(), 2, "both tabs got a 401");
    assert.equal(world.site.refreshes() - before, 1, "exactly one refresh reached the server");
    assert.deepEqual([x.session, y.session], [a.session, a.session], "both tabs continue in the same session");
  } finally {
    world.site.beforeForward = undefined;
    world.site.afterForward = undefined;
  }
  assert.deepEqual(await two.evaluate(() => window.events), [], "no tab was signed out");
  assert.equal((await world.tessera.events("refresh_reused")).length, 0, "no reuse was ever detected");
}

describe("the SDK in two tabs", () => {
  test("access tokens expiring at once: one refresh (Web Locks)", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${world.site.url}/app/`);
    assert.equal(await page.evaluate(() => typeof navigator.locks?.request), "function");
    await page.close();
    await twoTabsOneRefresh(context);
    await context.close();
  });

  test("access tokens expiring at once: one refresh (BroadcastChannel fallback, no Web Locks)", async () => {
    const context = await browser.newContext();
    await context.addInitScript(() => {
      Object.defineProperty(Navigator.prototype, "locks", { get: () => undefined, configurable: true });
    });
    const probe = await openApp(context);
    assert.equal(await probe.evaluate(() => window.app.tessera.usesWebLocks), false);
    await probe.close();
    await twoTabsOneRefresh(context);
    await context.close();
  });

  test("sign-out in one tab: the other tab's next call fails cleanly", async () => {
    const context = await browser.newContext();
    const [one, two] = await signedInTabs(context);
    const before = world.site.refreshes();
    await one.evaluate(() => window.app.tessera.logout());
    await two.waitForFunction(() => document.body.dataset.signedIn === "false");
    const failure = await two.evaluate(() => window.app.loadProfile().then(() => "succeeded", (e: Error) => e.message));
    assert.equal(failure, "HTTP 401");
    assert.deepEqual(await two.evaluate(() => window.events), [{ reason: "logout", remote: true }]);
    assert.equal(world.site.refreshes(), before, "no refresh was attempted");
    await context.close();
  });

  test("a session revoked elsewhere: the guard refuses, the refresh fails, the tab is told", async () => {
    const context = await browser.newContext();
    const [one] = await signedInTabs(context);
    const { session } = await profile(one);
    // The user signs out every session from another device.
    const me = await one.evaluate(() => window.app.tessera.whoAmI());
    const admin = await fetch(`${world.tessera.url}/v1/admin/users/${me.user.id}/sessions`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${world.tessera.adminKey}` },
    });
    assert.equal(admin.status, 204);
    await eventually(() => api.guard.isRevoked(session), "the guard heard of the revocation");
    const failure = await one.evaluate(() => window.app.loadProfile().then(() => "succeeded", (e: Error) => e.message));
    assert.equal(failure, "HTTP 401");
    assert.deepEqual(await one.evaluate(() => window.events), [{ reason: "refresh_failed", remote: false }]);
    await context.close();
  });
});

describe("cookie sessions in the browser", () => {
  test("the CSRF token goes with every unsafe request", async () => {
    const context = await browser.newContext();
    const page = await openApp(context);
    const result = await page.evaluate(
      async ([email, password]) => {
        const client = new window.TesseraClient({ mode: "cookie", crossTab: false });
        await client.signUp(email!, password!);
        await client.login(email!, password!);
        const other = new window.TesseraClient({ mode: "cookie", crossTab: false });
        const me = await client.whoAmI();
        // Without the header the server refuses; through the client it goes.
        const bare = await fetch("/v1/sessions?scope=others", { method: "DELETE" });
        const wrapped = await client.fetch("/v1/sessions?scope=others", { method: "DELETE" });
        await client.logout();
        return { kind: me.session.kind, bare: bare.status, wrapped: wrapped.status, after: await other.restore() };
      },
      [uniqueEmail("cookie"), PASSWORD],
    );
    assert.deepEqual(result, { kind: "cookie", bare: 403, wrapped: 204, after: undefined });
    await context.close();
  });
});
