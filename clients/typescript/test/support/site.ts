/**
 * The web site a browser test visits: one origin that serves the test page and the built SDK,
 * and passes everything else to Tessera (and `/api/` to a resource server), so cookies, CSRF and
 * origin checks work as they would behind a real reverse proxy. It records every request it
 * forwards, which is how the tests count refreshes that reach the server.
 */
import { readFile } from "node:fs/promises";
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize, sep } from "node:path";

export interface Forwarded {
  method: string;
  path: string;
  /** `grant_type` of a `POST /v1/token`. */
  grantType: string | undefined;
  status: number;
}

export interface Site {
  url: string;
  /** Tessera's own address; set once it runs (it needs this site's URL as its public URL). */
  tessera: string;
  /** Where `/api/…` goes, if anywhere. */
  api: string | undefined;
  forwarded: Forwarded[];
  /** Runs before a request is passed on; a test can hold one back. */
  beforeForward: ((request: Omit<Forwarded, "status">) => Promise<void>) | undefined;
  /** Runs after a request was answered. */
  afterForward: ((request: Forwarded) => void) | undefined;
  /** `Last-Event-ID` of every forwarded request that had one. */
  lastEventIds: string[];
  refreshes(): number;
  /** Cuts every open connection (clients and their streams). */
  dropConnections(): void;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".map": "application/json",
};

/** `mounts`: URL prefix (`/sdk/`) → directory. */
export async function startSite(mounts: Record<string, string>): Promise<Site> {
  const site: Site = {
    url: "",
    tessera: "",
    api: undefined,
    forwarded: [],
    lastEventIds: [],
    beforeForward: undefined,
    afterForward: undefined,
    refreshes: () => site.forwarded.filter((r) => r.grantType === "refresh_token").length,
    dropConnections: () => {
      server.closeAllConnections();
      for (const upstream of upstreams) upstream.destroy();
      upstreams.clear();
    },
    close: async () => {
      site.dropConnections();
      await new Promise((r) => server.close(r));
    },
  };

  async function serveFile(res: ServerResponse, dir: string, rest: string): Promise<void> {
    const path = normalize(join(dir, rest || "index.html"));
    if (!path.startsWith(dir + sep) && path !== dir) {
      res.writeHead(404).end();
      return;
    }
    try {
      const body = await readFile(path);
      res.writeHead(200, {
        "content-type": TYPES[extname(path)] ?? "application/octet-stream",
        "cache-control": "no-store",
      });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  }

  async function forward(req: IncomingMessage, res: ServerResponse, target: string): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const path = req.url ?? "/";
    let grantType: string | undefined;
    if (req.method === "POST" && path.startsWith("/v1/token")) {
      const text = body.toString();
      grantType = (req.headers["content-type"] ?? "").includes("json")
        ? (JSON.parse(text || "{}") as { grant_type?: string }).grant_type
        : new URLSearchParams(text).get("grant_type") ?? undefined;
      if (path !== "/v1/token" && path !== "/v1/token?") grantType = undefined;
    }
    const record = { method: req.method ?? "GET", path, grantType };
    const lastEventId = req.headers["last-event-id"];
    if (typeof lastEventId === "string") site.lastEventIds.push(lastEventId);
    await site.beforeForward?.(record);
    const url = new URL(target);
    const upstream = httpRequest(
      { host: url.hostname, port: url.port, method: req.method, path, headers: req.headers },
      (answer) => {
        const done: Forwarded = { ...record, status: answer.statusCode ?? 0 };
        site.forwarded.push(done);
        site.afterForward?.(done);
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstreams.add(upstream);
    upstream.on("close", () => upstreams.delete(upstream));
    upstream.on("error", () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    upstream.end(body);
  }

  const upstreams = new Set<ReturnType<typeof httpRequest>>();
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    for (const [prefix, dir] of Object.entries(mounts)) {
      if (path.startsWith(prefix)) {
        void serveFile(res, normalize(dir), decodeURIComponent(path.slice(prefix.length)));
        return;
      }
    }
    const target = path.startsWith("/api/") ? site.api : site.tessera;
    if (!target) {
      res.writeHead(503).end();
      return;
    }
    forward(req, res, target).catch(() => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  site.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return site;
}
