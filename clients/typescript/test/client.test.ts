/** The client against a real `tessera serve`, in Node (no cookie jar: session-token and token body modes). */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { MemoryStore, TesseraClient, TesseraError, type SessionEndedDetail } from "@tessera/client";

import { PASSWORD, startTessera, uniqueEmail, type Tessera } from "./support/tessera.js";

let tessera: Tessera;
before(async () => {
  tessera = await startTessera();
});
after(async () => {
  await tessera?.stop();
});

/** A fetch that counts refresh grants reaching the server. */
function countingFetch() {
  const counts = { refresh: 0, requests: 0 };
  const fetch: typeof globalThis.fetch = async (input, init) => {
    counts.requests++;
    const request = new Request(input, init);
    if (request.method === "POST" && new URL(request.url).pathname === "/v1/token") {
      if (new URLSearchParams(await request.clone().text()).get("grant_type") === "refresh_token") counts.refresh++;
    }
    return globalThis.fetch(request);
  };
  return { fetch, counts };
}

function endedEvents(client: TesseraClient): SessionEndedDetail[] {
  const seen: SessionEndedDetail[] = [];
  client.addEventListener("sessionended", (e) => seen.push((e as CustomEvent<SessionEndedDetail>).detail));
  return seen;
}

async function rejectsWith(promise: Promise<unknown>, code: string, status: number) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof TesseraError, `expected a TesseraError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.status, status);
    return true;
  });
}

async function signedUp(): Promise<string> {
  const email = uniqueEmail();
  await new TesseraClient({ mode: "session-token", baseUrl: tessera.url }).signUp(email, PASSWORD);
  return email;
}

describe("session-token mode", () => {
  test("sign-up, login, who-am-I, sessions, password change, logout", async () => {
    const client = new TesseraClient({ mode: "session-token", baseUrl: tessera.url });
    const ended = endedEvents(client);
    const email = uniqueEmail();
    const user = await client.signUp(email, PASSWORD);
    assert.equal(user.email, email);
    await client.login(email, PASSWORD);
    assert.equal(client.signedIn, true);

    const me = await client.whoAmI();
    assert.equal(me.user.email, email);
    assert.equal(me.session.kind, "header");
    const sessions = await client.sessions();
    assert.deepEqual(sessions.map((s) => s.current), [true]);

    const other = new TesseraClient({ mode: "session-token", baseUrl: tessera.url });
    await other.login(email, PASSWORD);
    assert.equal((await client.sessions()).length, 2);

    await client.changePassword(PASSWORD, `${PASSWORD} 2`);
    const after = await client.whoAmI();
    assert.notEqual(after.session.id, me.session.id, "the session is rotated");
    // The other device was signed out by the change; its next call is a clean 401 and an event.
    const otherEnded = endedEvents(other);
    await rejectsWith(other.whoAmI(), "unauthorized", 401);
    assert.deepEqual(otherEnded, [{ reason: "unauthorized", remote: false }]);
    assert.equal(other.signedIn, false);

    await client.logout();
    assert.equal(client.signedIn, false);
    assert.deepEqual(ended, [{ reason: "logout", remote: false }]);
    await rejectsWith(client.whoAmI(), "unauthorized", 401);
    assert.equal(ended.length, 1, "one event per session");
  });

  test("revoke one session and sign out the others", async () => {
    const email = await signedUp();
    const [a, b, c] = [1, 2, 3].map(() => new TesseraClient({ mode: "session-token", baseUrl: tessera.url })) as [
      TesseraClient,
      TesseraClient,
      TesseraClient,
    ];
    for (const client of [a, b, c]) await client.login(email, PASSWORD);
    const bId = (await b.whoAmI()).session.id;
    await a.revokeSession(bId);
    await rejectsWith(b.whoAmI(), "unauthorized", 401);
    await rejectsWith(a.revokeSession(bId), "not_found", 404);
    await a.signOutOthers();
    await rejectsWith(c.whoAmI(), "unauthorized", 401);
    assert.deepEqual((await a.sessions()).map((s) => s.current), [true]);
  });
});

describe("typed errors", () => {
  test("carry the API's codes", async () => {
    const email = await signedUp();
    const sessions = new TesseraClient({ mode: "session-token", baseUrl: tessera.url });
    await rejectsWith(sessions.login(email, "wrong password!"), "invalid_grant", 401);
    const tokens = new TesseraClient({ mode: "token", baseUrl: tessera.url });
    await rejectsWith(tokens.login(email, "wrong password!"), "invalid_grant", 400);
    await rejectsWith(sessions.signUp(email, PASSWORD), "conflict", 409);
    await rejectsWith(sessions.signUp(uniqueEmail(), "short"), "invalid_request", 400);
    await rejectsWith(sessions.whoAmI(), "unauthorized", 401);
    const nowhere = new TesseraClient({ mode: "token", baseUrl: "http://127.0.0.1:9" });
    await rejectsWith(nowhere.login(email, PASSWORD), "network_error", 0);
  });
});

describe("token mode, body transport", () => {
  test("defaults to body outside browsers and keeps the refresh token in the store", async () => {
    const email = await signedUp();
    const store = new MemoryStore();
    const client = new TesseraClient({ mode: "token", baseUrl: tessera.url, store });
    assert.equal(client.transport, "body");
    await client.login(email, PASSWORD);
    const saved = store.load();
    assert.match(saved?.refreshToken ?? "", /^tsr_/);
    assert.match(saved?.accessToken ?? "", /^eyJ/);
    assert.equal((await client.whoAmI()).session.kind, "token");

    // An app restart: a new client restores from the store.
    const restarted = new TesseraClient({ mode: "token", baseUrl: tessera.url, store });
    assert.equal((await restarted.restore())?.user.email, email);
  });

});

describe("token mode, refresh on 401", () => {
  // Two-second access tokens with no leeway: the tests wait for real expiry.
  let short: Tessera;
  before(async () => {
    short = await startTessera({ config: { token: { access_ttl: "2s", leeway: "0s" } } });
  });
  after(async () => {
    await short?.stop();
  });

  async function loggedIn(fetch?: typeof globalThis.fetch) {
    const email = uniqueEmail();
    const store = new MemoryStore();
    const client = new TesseraClient({ mode: "token", baseUrl: short.url, store, ...(fetch ? { fetch } : {}) });
    await client.signUp(email, PASSWORD);
    await client.login(email, PASSWORD);
    return { client, store, email };
  }

  /** Waits until the access token in `store` is past its `exp`. */
  async function expired(store: MemoryStore) {
    const token = store.load()?.accessToken ?? "";
    const claims = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString()) as { exp: number };
    const wait = claims.exp * 1000 + 50 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }

  test("five concurrent 401s share one refresh, and each request is retried once", async () => {
    const { fetch, counts } = countingFetch();
    const { client, store } = await loggedIn(fetch);
    const before = store.load()!;
    await expired(store);
    counts.refresh = 0;
    const responses = await Promise.all(Array.from({ length: 5 }, () => client.fetch(`${short.url}/v1/session`)));
    assert.deepEqual(responses.map((r) => r.status), [200, 200, 200, 200, 200]);
    assert.equal(counts.refresh, 1);
    const afterRefresh = store.load()!;
    assert.notEqual(afterRefresh.refreshToken, before.refreshToken, "the refresh token rotated");
    assert.notEqual(afterRefresh.accessToken, before.accessToken);
  });

  test("a refresh answered as reuse ends the session cleanly and emits sessionended", async () => {
    const { client, store } = await loggedIn();
    const ended = endedEvents(client);
    // Someone else (a thief, or a second copy of the app) spends the refresh token first.
    const stolen = store.load()!.refreshToken!;
    const theft = await globalThis.fetch(`${short.url}/v1/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: stolen }),
    });
    assert.equal(theft.status, 200);
    const thiefTokens = (await theft.json()) as { refresh_token: string };
    await expired(store);

    const response = await client.fetch(`${short.url}/v1/session`);
    assert.equal(response.status, 401);
    assert.deepEqual(ended, [{ reason: "refresh_failed", remote: false }]);
    assert.equal(client.signedIn, false);
    assert.equal(store.load(), undefined, "the secrets are forgotten");
    assert.ok(
      (await short.events("refresh_reused")).length >= 1,
      "the server saw the reuse and revoked the family",
    );
    const thiefRefresh = await globalThis.fetch(`${short.url}/v1/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: thiefTokens.refresh_token }),
    });
    assert.equal(thiefRefresh.status, 400);
    // Signed out: no further refresh attempts, a plain 401.
    assert.equal((await client.fetch(`${short.url}/v1/session`)).status, 401);
    assert.equal(ended.length, 1);
  });

  test("logout revokes the refresh token's session", async () => {
    const { client, store } = await loggedIn();
    const refresh = store.load()!.refreshToken!;
    await client.logout();
    const answer = await globalThis.fetch(`${short.url}/v1/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refresh }),
    });
    assert.equal(answer.status, 400);
    assert.equal(((await answer.json()) as { error: string }).error, "invalid_grant");
  });

  test("the credential goes only to trusted origins", async () => {
    const seen: Array<string | null> = [];
    const spy: typeof globalThis.fetch = async (input, init) => {
      const request = new Request(input, init);
      if (!request.url.startsWith(short.url)) {
        seen.push(request.headers.get("authorization"));
        return new Response("{}", { status: 200 });
      }
      return globalThis.fetch(request);
    };
    const { client } = await loggedIn(spy);
    await client.fetch("https://elsewhere.example/api");
    assert.deepEqual(seen, [null]);
  });
});
