/** The Node resource-server helper (and the README's example of it) against a real `tessera serve`. */
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";

import { TesseraGuard, GuardError, type GuardOptions } from "@tessera/client/node";
import { SignJWT, exportJWK, generateKeyPair } from "jose";

import { startApi } from "../examples/resource-server.js";
import { startSite, type Site } from "./support/site.js";
import { PASSWORD, startTessera, uniqueEmail, type Tessera } from "./support/tessera.js";

let tessera: Tessera;
let client: { client_id: string; client_secret: string };
before(async () => {
  tessera = await startTessera();
  client = await tessera.addClient("sdk-tests");
});
after(async () => {
  await tessera?.stop();
});

const quiet = { warn: () => {} };

async function tokens(email?: string): Promise<{ access_token: string; refresh_token: string; sid: string }> {
  const address = email ?? uniqueEmail();
  if (!email) {
    const created = await fetch(`${tessera.url}/v1/users`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: address, password: PASSWORD }),
    });
    assert.equal(created.status, 201);
  }
  const response = await fetch(`${tessera.url}/v1/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "password", username: address, password: PASSWORD }),
  });
  assert.equal(response.status, 200);
  const body = (await response.json()) as { access_token: string; refresh_token: string };
  const claims = JSON.parse(Buffer.from(body.access_token.split(".")[1]!, "base64url").toString()) as { sid: string };
  return { ...body, sid: claims.sid };
}

async function revoke(token: string): Promise<void> {
  const response = await fetch(`${tessera.url}/v1/token/revoke`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token }),
  });
  assert.equal(response.status, 200);
}

/** Polls `condition` until it holds; fails after a generous bound (a hang guard, not a timing claim). */
async function eventually(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function options(extra: Partial<GuardOptions> = {}): GuardOptions {
  return { issuer: tessera.publicUrl, servers: [tessera.url], ...quiet, ...extra };
}

describe("the README's resource-server example", () => {
  test("accepts a token, and refuses it once the stream announces its session revoked", async () => {
    const { guard, server } = await startApi(options({ clientId: client.client_id, clientSecret: client.client_secret }));
    try {
      assert.equal(await guard.waitInSync(20_000), true);
      if (!server.listening) await new Promise((r) => server.once("listening", r));
      const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}/me`;
      const { access_token, refresh_token, sid } = await tokens();

      const ok = await fetch(api, { headers: { authorization: `Bearer ${access_token}` } });
      assert.equal(ok.status, 200);
      assert.equal(((await ok.json()) as { session: string }).session, sid);

      const none = await fetch(api);
      assert.equal(none.status, 401);
      assert.equal(none.headers.get("www-authenticate"), 'Bearer realm="tessera"');

      await revoke(refresh_token);
      await eventually(() => guard.isRevoked(sid), "the revocation reached the guard");
      const refused = await fetch(api, { headers: { authorization: `Bearer ${access_token}` } });
      assert.equal(refused.status, 401);
      assert.equal(refused.headers.get("www-authenticate"), 'Bearer realm="tessera", error="invalid_token"');
    } finally {
      guard.close();
      server.close();
    }
  });
});

describe("TesseraGuard", () => {
  test("refuses forged, tampered and foreign tokens", async () => {
    const guard = await TesseraGuard.start(options({ clientId: client.client_id, clientSecret: client.client_secret }));
    try {
      await guard.waitInSync(20_000);
      const { access_token } = await tokens();
      assert.equal((await guard.verifyToken(access_token)).method, "access_token");

      const [header, payload, signature] = access_token.split(".") as [string, string, string];
      const claims = JSON.parse(Buffer.from(payload, "base64url").toString()) as Record<string, unknown>;
      const tampered = `${header}.${Buffer.from(JSON.stringify({ ...claims, sub: "someone-else" })).toString("base64url")}.${signature}`;
      await assert.rejects(guard.verifyToken(tampered), GuardError);

      // Same kid, a key of the attacker's: the signature does not verify against the published key.
      const kid = (JSON.parse(Buffer.from(header, "base64url").toString()) as { kid: string }).kid;
      const attacker = await generateKeyPair("EdDSA", { crv: "Ed25519" });
      const forged = await new SignJWT(claims).setProtectedHeader({ alg: "EdDSA", typ: "at+jwt", kid }).sign(attacker.privateKey);
      await assert.rejects(guard.verifyToken(forged), GuardError);

      // The attacker's key embedded in the header (`jwk`) is ignored.
      const embedded = await new SignJWT(claims)
        .setProtectedHeader({ alg: "EdDSA", typ: "at+jwt", kid, jwk: await exportJWK(attacker.publicKey) })
        .sign(attacker.privateKey);
      await assert.rejects(guard.verifyToken(embedded), GuardError);

      // HS256 with the public key as the secret (algorithm confusion).
      const hs = await new SignJWT(claims)
        .setProtectedHeader({ alg: "HS256", typ: "at+jwt", kid })
        .sign(new TextEncoder().encode("x".repeat(32)));
      await assert.rejects(guard.verifyToken(hs), GuardError);

      const wrongAudience = await TesseraGuard.start(options({ audience: "another-api", cutoffPolicy: "accept-with-warning" }));
      await assert.rejects(wrongAudience.verifyToken(access_token), GuardError);
      wrongAudience.close();
      await assert.rejects(guard.verifyToken("x".repeat(9000)), GuardError);
    } finally {
      guard.close();
    }
  });

  test("refuses to start against a server naming another issuer", async () => {
    await assert.rejects(TesseraGuard.start({ issuer: "https://impostor.example", servers: [tessera.url], ...quiet }), /issuer/);
  });

  test("without the stream: ask-server checks every token, refuse answers 503", async () => {
    const asking = await TesseraGuard.start(options({ checkCacheTtlMs: 0 }));
    const refusing = await TesseraGuard.start(options({ cutoffPolicy: "refuse" }));
    try {
      const { access_token, refresh_token } = await tokens();
      assert.equal((await asking.verifyToken(access_token)).method, "access_token");
      await assert.rejects(refusing.verifyToken(access_token), (e: unknown) => e instanceof GuardError && e.status === 503);
      await revoke(refresh_token);
      await assert.rejects(asking.verifyToken(access_token), (e: unknown) => e instanceof GuardError && e.status === 401);
    } finally {
      asking.close();
      refusing.close();
    }
  });

  test("opaque session tokens go to /v1/check", async () => {
    const guard = await TesseraGuard.start(options({ checkCacheTtlMs: 0 }));
    try {
      const email = uniqueEmail();
      await fetch(`${tessera.url}/v1/users`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email, password: PASSWORD }),
      });
      const login = await fetch(`${tessera.url}/v1/session`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email, password: PASSWORD, transport: "body" }),
      });
      const { session_token } = (await login.json()) as { session_token: string };
      const who = await guard.verifyRequest({ method: "GET", headers: { authorization: `Bearer ${session_token}` } });
      assert.equal(who.method, "session_token");
      await assert.rejects(
        guard.verifyRequest({ method: "GET", headers: { authorization: `Bearer tss_${"A".repeat(43)}` } }),
        GuardError,
      );
    } finally {
      guard.close();
    }
  });

  describe("through a connection that drops", () => {
    let site: Site;
    before(async () => {
      site = await startSite({});
      site.tessera = tessera.url;
    });
    after(async () => {
      await site?.close();
    });

    test("resumes after the last event and misses no revocation made meanwhile", async () => {
      const guard = await TesseraGuard.start(
        options({ servers: [site.url], clientId: client.client_id, clientSecret: client.client_secret }),
      );
      try {
        assert.equal(await guard.waitInSync(20_000), true);
        const first = await tokens();
        await revoke(first.refresh_token);
        await eventually(() => guard.isRevoked(first.sid), "the first revocation arrived");

        // Hold the reconnect until a revocation has been made while the guard was away.
        let release!: () => void;
        const held = new Promise<void>((r) => (release = r));
        const reconnects: string[] = [];
        site.beforeForward = async (request) => {
          if (request.path.startsWith("/v1/revocations")) {
            reconnects.push(request.path);
            await held;
          }
        };
        site.dropConnections();
        await eventually(() => !guard.inSync, "the guard noticed the loss");
        await eventually(() => reconnects.length > 0, "the guard reconnects");
        const second = await tokens();
        await revoke(second.refresh_token);
        assert.equal(guard.isRevoked(second.sid), false);
        release();
        site.beforeForward = undefined;
        await eventually(() => guard.inSync && guard.isRevoked(second.sid), "the backlog brought the revocation");
        assert.ok(site.lastEventIds.some((id) => id.length > 0), "the reconnect carried Last-Event-ID");
        assert.equal(guard.isRevoked(first.sid), true);
      } finally {
        guard.close();
      }
    });
  });
});
