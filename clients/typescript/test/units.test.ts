/** Pure units: the SSE parser, credential extraction, error bodies. */
import assert from "node:assert/strict";
import { test } from "node:test";

import { TesseraError } from "@tessera/client";
import { SseParser, findCredential } from "@tessera/client/node";

test("SSE: events cut anywhere, CRLF split across chunks, comments, multi-line data", () => {
  const text =
    ": hello\r\nevent: revoked\r\nid: c1\r\ndata: {\"sid\":\"a\"}\r\n\r\n" +
    "event: ready\nid: c2\ndata: {}\n\n" +
    "data: one\ndata:two\r\r" +
    "event: keys\ndata: {\"kids\":[]}\n\n";
  const expected = [
    { event: "revoked", id: "c1", data: '{"sid":"a"}' },
    { event: "ready", id: "c2", data: "{}" },
    { event: "message", id: undefined, data: "one\ntwo" },
    { event: "keys", id: undefined, data: '{"kids":[]}' },
  ];
  for (let size = 1; size <= text.length; size++) {
    const parser = new SseParser();
    const events = [];
    for (let i = 0; i < text.length; i += size) events.push(...parser.feed(text.slice(i, i + size)));
    assert.deepEqual(events, expected, `chunks of ${size}`);
  }
});

test("SSE: an incomplete event is not emitted", () => {
  const parser = new SseParser();
  assert.deepEqual(parser.feed("event: revoked\ndata: {}\n"), []);
  assert.equal(parser.feed("\n").length, 1);
});

test("credentials: Authorization wins, tss_ is a session token, the access cookie wins over the session cookie", () => {
  assert.deepEqual(findCredential({ authorization: "Bearer eyJx", cookie: "tessera_at=eyJy" }), {
    kind: "access_token",
    token: "eyJx",
  });
  assert.deepEqual(findCredential(new Headers({ authorization: "bearer tss_abc" })), {
    kind: "session_token",
    token: "tss_abc",
  });
  assert.equal(findCredential({ authorization: "Basic abc" }), undefined);
  assert.deepEqual(findCredential({ cookie: "a=b; tessera_session=tss_s; __Host-tessera_at=eyJz" }), {
    kind: "cookie",
    pair: "__Host-tessera_at=eyJz",
    value: "eyJz",
    accessToken: true,
  });
  assert.equal(findCredential({ cookie: "other=1" }), undefined);
  assert.equal(findCredential({}), undefined);
});

test("errors: the API's body, or the status when the body is not JSON", async () => {
  const api = await TesseraError.from(
    new Response('{"error":"rate_limited","error_description":"slow down"}', {
      status: 429,
      headers: { "retry-after": "7" },
    }),
  );
  assert.equal(api.code, "rate_limited");
  assert.equal(api.retryAfter, 7);
  assert.equal(api.message, "rate_limited: slow down");
  const bare = await TesseraError.from(new Response("<html>", { status: 502 }));
  assert.equal(bare.code, "server_error");
  assert.equal(bare.status, 502);
});
