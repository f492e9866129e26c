/** A session as the API lists it. `id` is a public identifier, never the secret. */
export interface Session {
  id: string;
  user_id: string;
  created_at: string;
  last_seen_at: string;
  idle_expires_at: string;
  expires_at: string;
  ip: string | null;
  user_agent: string | null;
  kind: "cookie" | "header" | "token";
  current: boolean;
}

export interface User {
  id: string;
  email: string;
}

export interface CreatedUser extends User {
  created_at: string;
}

/** `GET /v1/session`. */
export interface WhoAmI {
  session: Session;
  user: User;
  csrf_token: string;
}

/**
 * How the client authenticates:
 * - `cookie`: a cookie session (`POST /v1/session`, transport cookie). The browser holds the
 *   HttpOnly cookie; the client keeps the CSRF token and sends it on every unsafe request.
 * - `session-token`: an opaque session token (`tss_…`) sent as `Authorization: Bearer`.
 * - `token`: the password grant; short-lived access tokens renewed with a single-use refresh
 *   token. See {@link ClientOptions.transport}.
 */
export type Mode = "cookie" | "session-token" | "token";

/**
 * Where the token mode keeps its tokens. `cookie` (the browser default): both tokens are
 * HttpOnly cookies script cannot read, and the client keeps only the CSRF token. `body` (the
 * default outside browsers): the access token in memory, the refresh token in the
 * {@link SecretStore}.
 */
export type Transport = "cookie" | "body";

/** The secrets of the `session-token` and token `body` modes. */
export interface StoredCredentials {
  sessionToken?: string;
  accessToken?: string;
  /** Epoch milliseconds. */
  accessExpiresAt?: number;
  refreshToken?: string;
}

/**
 * Where the client keeps the secrets it must hold itself. The default keeps them in memory
 * only; a native app can put them in its keychain. A store shared by several clients (tabs)
 * makes them share one refresh-token family: the client re-reads it under the refresh lock.
 */
export interface SecretStore {
  load(): Promise<StoredCredentials | undefined> | StoredCredentials | undefined;
  save(credentials: StoredCredentials | undefined): Promise<void> | void;
}

export class MemoryStore implements SecretStore {
  #value: StoredCredentials | undefined;
  load(): StoredCredentials | undefined {
    return this.#value ? { ...this.#value } : undefined;
  }
  save(credentials: StoredCredentials | undefined): void {
    this.#value = credentials ? { ...credentials } : undefined;
  }
}

/**
 * Why the client's session ended: `logout` (this client or another tab of it), `refresh_failed`
 * (the refresh token was refused: expired, revoked, or reused — reuse revokes the whole family
 * on the server), `unauthorized` (a cookie or session-token session the server no longer
 * knows).
 */
export type EndReason = "logout" | "refresh_failed" | "unauthorized";

export interface SessionEndedDetail {
  reason: EndReason;
  /** True when another tab reported it. */
  remote: boolean;
}
