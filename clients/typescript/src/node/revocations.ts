import { SseParser, type SseEvent } from "./sse.js";

/** The server sends a comment at least every 15 s; this much silence means a dead connection. */
const IDLE_TIMEOUT_MS = 45_000;
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5_000;

export interface FollowerOptions {
  /** Base URLs of the instances, tried in turn: the stream moves to the next on each failure. */
  servers: string[];
  clientId: string;
  clientSecret: string;
  fetch: typeof globalThis.fetch;
  /** `event: keys`: the signing keys changed. */
  onKeysChanged: () => void;
  warn: (message: string) => void;
}

/**
 * Follows `GET /v1/revocations` (docs/guard.md, "The protocol"): keeps `sid → until` for every
 * revoked session whose tokens may still be alive, knows whether that map is complete (from
 * `ready` until the connection is lost), and resumes after a loss with `Last-Event-ID`, so
 * nothing revoked meanwhile is missed.
 */
export class RevocationFollower {
  readonly #options: FollowerOptions;
  readonly #revoked = new Map<string, number>();
  #cursor: string | undefined;
  #inSync = false;
  /** When the map stopped being complete; undefined while it never was. */
  #lostAt: number | undefined;
  #closed = false;
  #connection: AbortController | undefined;
  #wake: (() => void) | undefined;
  #readyWaiters: Array<() => void> = [];

  constructor(options: FollowerOptions) {
    this.#options = options;
    void this.#run();
  }

  get inSync(): boolean {
    return this.#inSync;
  }

  /** Whether the map has been incomplete for longer than `boundMs` (always, before the first `ready`). */
  cutOffLongerThan(boundMs: number): boolean {
    if (this.#inSync) return false;
    return this.#lostAt === undefined || Date.now() - this.#lostAt > boundMs;
  }

  isRevoked(sid: string): boolean {
    const until = this.#revoked.get(sid);
    if (until === undefined) return false;
    if (until <= Date.now()) {
      this.#revoked.delete(sid);
      return false;
    }
    return true;
  }

  /** Resolves true at `ready`, false after `timeoutMs`. */
  waitInSync(timeoutMs: number): Promise<boolean> {
    if (this.#inSync) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.#readyWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  close(): void {
    this.#closed = true;
    this.#connection?.abort();
    this.#wake?.();
  }

  async #run(): Promise<void> {
    let backoff = BACKOFF_MIN_MS;
    for (let index = 0; !this.#closed; index++) {
      const server = this.#options.servers[index % this.#options.servers.length]!;
      let reachedReady = false;
      try {
        reachedReady = await this.#connect(server);
      } catch (error) {
        if (!this.#closed) this.#options.warn(`revocation stream lost (${server}): ${describe(error)}`);
      }
      this.#lost();
      if (this.#closed) break;
      if (reachedReady) backoff = BACKOFF_MIN_MS;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, backoff);
      });
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
    }
  }

  /** One connection; true when it reached `ready` before it ended. */
  async #connect(server: string): Promise<boolean> {
    const controller = new AbortController();
    this.#connection = controller;
    let idle = setTimeout(() => controller.abort(new Error("silent for too long")), IDLE_TIMEOUT_MS);
    try {
      const { clientId, clientSecret } = this.#options;
      const headers: Record<string, string> = {
        accept: "text/event-stream",
        authorization: `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`).toString("base64")}`,
      };
      if (this.#cursor) headers["last-event-id"] = this.#cursor;
      const response = await this.#options.fetch(`${server}/v1/revocations`, { headers, signal: controller.signal });
      if (response.status !== 200 || !response.body) {
        await response.body?.cancel();
        throw new Error(
          response.status === 401 ? "the server refused the client credentials (401)" : `HTTP ${response.status}`,
        );
      }
      const parser = new SseParser();
      const decoder = new TextDecoder();
      let ready = false;
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        clearTimeout(idle);
        idle = setTimeout(() => controller.abort(new Error("silent for too long")), IDLE_TIMEOUT_MS);
        for (const event of parser.feed(decoder.decode(chunk, { stream: true }))) {
          ready = this.#apply(event) || ready;
        }
      }
      return ready;
    } finally {
      clearTimeout(idle);
      controller.abort();
    }
  }

  /**
   * Applies one event; true for `ready`. An unreadable revocation throws before the cursor moves
   * past it, so the reconnect asks for it again instead of skipping it.
   */
  #apply(event: SseEvent): boolean {
    if (event.event === "revoked") {
      const revoked = JSON.parse(event.data) as { sid?: unknown; until?: unknown };
      const until = typeof revoked.until === "string" ? Date.parse(revoked.until) : Number.NaN;
      if (typeof revoked.sid !== "string" || Number.isNaN(until)) throw new Error("unreadable revocation event");
      this.#revoked.set(revoked.sid, Math.max(until, this.#revoked.get(revoked.sid) ?? 0));
      this.#prune();
    } else if (event.event === "ready") {
      this.#inSync = true;
      this.#readyWaiters.splice(0).forEach((wake) => wake());
    } else if (event.event === "keys") {
      this.#options.onKeysChanged();
    }
    if (event.id !== undefined) this.#cursor = event.id;
    return event.event === "ready";
  }

  #lost(): void {
    if (this.#inSync) {
      this.#inSync = false;
      this.#lostAt = Date.now();
    }
  }

  #prune(): void {
    const now = Date.now();
    for (const [sid, until] of this.#revoked) if (until <= now) this.#revoked.delete(sid);
  }
}

/** RFC 6749 §2.3.1: each part of HTTP Basic client credentials is form-encoded first. */
function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
