import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from "jose";

import { findCredential, header, isUnsafe, type Credential, type HeaderSource } from "./credential.js";
import { RevocationFollower } from "./revocations.js";

/** What the guard does with an access token while cut off from the revocation stream. */
export type CutoffPolicy = "ask-server" | "refuse" | "accept-with-warning";

export interface GuardOptions {
  /** The issuer, exactly as in the tokens' `iss` (Tessera's `token.issuer`, by default its `server.public_url`). */
  issuer: string;
  /** Where to reach Tessera when not at the issuer URL; several instances are tried in turn. */
  servers?: string[];
  /** Client credentials (`tessera clients add NAME`) for the revocation stream. Without them the guard is always cut off. */
  clientId?: string;
  clientSecret?: string;
  /** `aud` the tokens must carry (`token.audience`). Default `tessera`. */
  audience?: string;
  /** The server's `token.access_ttl` in seconds. Default 300. */
  accessTtlSeconds?: number;
  /** The server's `token.leeway` in seconds. Default 30. */
  leewaySeconds?: number;
  /** Default `ask-server`: `GET /v1/check`, answer cached; refused when no server answers. */
  cutoffPolicy?: CutoffPolicy;
  /** How long the guard may be cut off before the policy applies. Default: the access-token lifetime. */
  cutoffBoundMs?: number;
  /** How long an answer of `/v1/check` is reused. Default 5 s. */
  checkCacheTtlMs?: number;
  /** A token naming an unknown `kid` refetches the JWKS at most this often. Default 10 s. */
  unknownKidRefetchMs?: number;
  fetch?: typeof globalThis.fetch;
  /** Where warnings go. Default `console.warn`. Messages never contain a credential. */
  warn?: (message: string) => void;
}

/** Who made a request. */
export interface Principal {
  user: string;
  session: string;
  method: "access_token" | "session_token" | "cookie";
  expiresAt: Date;
  clientId?: string;
  scope?: string;
  roles: string[];
}

/** A refusal: `status` 401 (no or a bad credential) or 503 (the guard cannot decide). */
export class GuardError extends Error {
  override readonly name = "GuardError";
  constructor(
    readonly status: 401 | 503,
    readonly reason: string,
    /** Whether a credential was presented (RFC 6750: no `error` attribute otherwise). */
    readonly presented: boolean,
  ) {
    super(reason);
  }

  /** The RFC 6750 `WWW-Authenticate` value for a 401. */
  get wwwAuthenticate(): string {
    return this.presented ? 'Bearer realm="tessera", error="invalid_token"' : 'Bearer realm="tessera"';
  }
}

/** The server refuses tokens over 8 KiB too. */
const MAX_TOKEN_BYTES = 8 * 1024;
/** The algorithms Tessera publishes keys for; HS256 keys are never published. */
const ALGORITHMS = ["EdDSA", "ES256", "RS256"];
const CSRF_HEADERS = ["x-csrf-token", "origin", "sec-fetch-site", "referer"];

/**
 * Verifies Tessera credentials in a Node service: access tokens locally with `jose` against the
 * JWKS (the server's rules: the key's own algorithm, `typ: at+jwt`, `iss`, `aud`, `exp`/`nbf`
 * with leeway), refused when the revocation stream announced their session; opaque credentials
 * through `GET /v1/check`. The protocol is docs/guard.md's; crates/tessera-guard is the Rust twin.
 */
export class TesseraGuard {
  readonly #options: Required<Pick<GuardOptions, "issuer" | "audience" | "cutoffPolicy">> & GuardOptions;
  readonly #servers: string[];
  readonly #fetch: typeof globalThis.fetch;
  readonly #jwks: ReturnType<typeof createRemoteJWKSet>;
  readonly #follower: RevocationFollower | undefined;
  readonly #checks = new Map<string, { principal: Principal; at: number }>();
  readonly #cutoffBoundMs: number;

  private constructor(options: GuardOptions, servers: string[], jwksUri: URL) {
    this.#options = { audience: "tessera", cutoffPolicy: "ask-server", ...options };
    this.#servers = servers;
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#cutoffBoundMs = options.cutoffBoundMs ?? (options.accessTtlSeconds ?? 300) * 1000;
    this.#jwks = createRemoteJWKSet(jwksUri, {
      cooldownDuration: options.unknownKidRefetchMs ?? 10_000,
      cacheMaxAge: 300_000,
    });
    const warn = options.warn ?? ((message: string) => console.warn(`tessera guard: ${message}`));
    if (options.clientId && options.clientSecret) {
      this.#follower = new RevocationFollower({
        servers,
        clientId: options.clientId,
        clientSecret: options.clientSecret,
        fetch: this.#fetch,
        onKeysChanged: () => void this.#jwks.reload().catch(() => warn("JWKS refetch failed")),
        warn,
      });
    } else {
      warn("no client credentials: revocations are not followed");
    }
  }

  /**
   * Discovers the server (RFC 8414 metadata at the issuer, which must name the same issuer),
   * loads its keys, and starts following revocations. {@link waitInSync} waits for their backlog.
   */
  static async start(options: GuardOptions): Promise<TesseraGuard> {
    const servers = (options.servers?.length ? options.servers : [options.issuer]).map((s) => s.replace(/\/+$/, ""));
    const doFetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    let lastError = "no server";
    for (const server of servers) {
      try {
        const response = await doFetch(`${server}/.well-known/oauth-authorization-server`);
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const metadata = (await response.json()) as { issuer?: string; jwks_uri?: string };
        if (metadata.issuer !== options.issuer) {
          throw new Error(`the server names issuer ${JSON.stringify(metadata.issuer)}, not ${JSON.stringify(options.issuer)}`);
        }
        // Reached through another address than the issuer's: keep the JWKS path, use that address.
        const advertised = new URL(metadata.jwks_uri ?? `${options.issuer}/.well-known/jwks.json`);
        const jwksUri = new URL(advertised.pathname, `${server}/`);
        const guard = new TesseraGuard(options, servers, jwksUri);
        try {
          await guard.#jwks.reload();
        } catch (error) {
          guard.close();
          throw error;
        }
        return guard;
      } catch (error) {
        lastError = `${server}: ${error instanceof Error ? error.message : String(error)}`;
      }
    }
    throw new Error(`cannot start the Tessera guard: ${lastError}`);
  }

  /** Whether the revoked-session set is complete (the stream is connected and past `ready`). */
  get inSync(): boolean {
    return this.#follower?.inSync ?? false;
  }

  waitInSync(timeoutMs: number): Promise<boolean> {
    return this.#follower?.waitInSync(timeoutMs) ?? Promise.resolve(false);
  }

  isRevoked(sessionId: string): boolean {
    return this.#follower?.isRevoked(sessionId) ?? false;
  }

  /** Stops following revocations. */
  close(): void {
    this.#follower?.close();
  }

  /** Verifies the credential of a request: Node's `req` (method and headers) or a Fetch `Request`. */
  async verifyRequest(request: { method?: string; headers: HeaderSource }): Promise<Principal> {
    const method = request.method ?? "GET";
    const credential = findCredential(request.headers);
    if (!credential) throw new GuardError(401, "no credential", false);
    if (credential.kind === "access_token") return this.verifyToken(credential.token);
    if (credential.kind === "cookie" && isUnsafe(method)) {
      // Cookies on unsafe methods need the server's CSRF check: never cached.
      return this.#check(credential, method, request.headers);
    }
    if (credential.kind === "cookie" && credential.accessToken) return this.verifyToken(credential.value);
    return this.#cached(credential, method, request.headers);
  }

  /** Verifies an access token as the server does, against the revocations the stream announced. */
  async verifyToken(token: string): Promise<Principal> {
    if (Buffer.byteLength(token) > MAX_TOKEN_BYTES) throw new GuardError(401, "token too large", true);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.#jwks, {
        issuer: this.#options.issuer,
        audience: this.#options.audience,
        typ: "at+jwt",
        algorithms: ALGORITHMS,
        clockTolerance: this.#options.leewaySeconds ?? 30,
        requiredClaims: ["sub", "sid", "exp", "iat", "nbf", "jti"],
      }));
    } catch (error) {
      if (error instanceof joseErrors.JWKSTimeout) throw new GuardError(503, "JWKS unreachable", true);
      throw new GuardError(401, error instanceof joseErrors.JOSEError ? error.code : "invalid token", true);
    }
    const principal = fromClaims(payload);
    if (this.isRevoked(principal.session)) throw new GuardError(401, "revoked", true);
    const cutOff = this.#follower?.cutOffLongerThan(this.#cutoffBoundMs) ?? true;
    if (!cutOff) return principal;
    switch (this.#options.cutoffPolicy) {
      case "accept-with-warning":
        (this.#options.warn ?? console.warn)("accepting an access token while cut off from the revocation stream");
        return principal;
      case "refuse":
        throw new GuardError(503, "cut off from revocations", true);
      default:
        await this.#cached({ kind: "access_token", token }, "GET", {});
        return principal;
    }
  }

  /** `/v1/check` through the short cache; a cached answer whose session was since revoked is refused. */
  async #cached(credential: Credential, method: string, headers: HeaderSource): Promise<Principal> {
    const key = credential.kind === "cookie" ? credential.pair : credential.token;
    const ttl = this.#options.checkCacheTtlMs ?? 5_000;
    const now = Date.now();
    const hit = this.#checks.get(key);
    if (hit && now - hit.at < ttl) {
      if (this.isRevoked(hit.principal.session)) throw new GuardError(401, "revoked", true);
      return hit.principal;
    }
    const principal = await this.#check(credential, method, headers);
    if (this.#checks.size > 10_000) {
      for (const [k, v] of this.#checks) if (now - v.at >= ttl) this.#checks.delete(k);
    }
    this.#checks.set(key, { principal, at: now });
    return principal;
  }

  async #check(credential: Credential, method: string, original: HeaderSource): Promise<Principal> {
    const headers: Record<string, string> = {};
    if (credential.kind === "cookie") {
      headers.cookie = credential.pair;
      if (isUnsafe(method)) {
        headers["x-forwarded-method"] = method.toUpperCase();
        for (const name of CSRF_HEADERS) {
          const value = header(original, name);
          if (value !== undefined) headers[name] = value;
        }
      }
    } else {
      headers.authorization = `Bearer ${credential.token}`;
    }
    for (const server of this.#servers) {
      let response: Response;
      try {
        response = await this.#fetch(`${server}/v1/check`, { headers, signal: AbortSignal.timeout(5_000) });
      } catch {
        continue;
      }
      if (response.status === 200) {
        const body = (await response.json()) as { user_id: string; session_id: string; method: Principal["method"]; expires_at: string };
        if (this.isRevoked(body.session_id)) throw new GuardError(401, "revoked", true);
        return { user: body.user_id, session: body.session_id, method: body.method, expiresAt: new Date(body.expires_at), roles: [] };
      }
      await response.body?.cancel();
      if (response.status === 401 || response.status === 403) throw new GuardError(401, "refused by the server", true);
    }
    throw new GuardError(503, "no Tessera instance answered the check", true);
  }
}

function fromClaims(payload: JWTPayload): Principal {
  const claims = payload as JWTPayload & { sid?: unknown; client_id?: unknown; scope?: unknown; roles?: unknown };
  if (typeof claims.sid !== "string" || typeof claims.sub !== "string" || typeof claims.exp !== "number") {
    throw new GuardError(401, "malformed claims", true);
  }
  return {
    user: claims.sub,
    session: claims.sid,
    method: "access_token",
    expiresAt: new Date(claims.exp * 1000),
    ...(typeof claims.client_id === "string" ? { clientId: claims.client_id } : {}),
    ...(typeof claims.scope === "string" ? { scope: claims.scope } : {}),
    roles: Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === "string") : [],
  };
}
