import { TabCoordinator, type TabMessage } from "./crosstab.js";
import { TesseraError } from "./errors.js";
import {
  MemoryStore,
  type CreatedUser,
  type EndReason,
  type Mode,
  type SecretStore,
  type Session,
  type SessionEndedDetail,
  type StoredCredentials,
  type Transport,
  type WhoAmI,
} from "./types.js";

export interface ClientOptions {
  /** How to authenticate; see {@link Mode}. */
  mode: Mode;
  /** Tessera's URL (origin, optionally with a path prefix). Default: the page's origin. */
  baseUrl?: string;
  /** Token mode only. Default: `cookie` in browsers, `body` elsewhere. */
  transport?: Transport;
  /** Where `session-token` and token `body` modes keep their secrets. Default: memory. */
  store?: SecretStore;
  /** `client_id` put into access tokens by the password grant. */
  clientId?: string;
  /**
   * Origins the credential (cookies, `X-CSRF-Token`, `Authorization`) is sent to by
   * {@link TesseraClient.fetch}. Default: Tessera's origin and the page's. Requests elsewhere go
   * out untouched.
   */
  trustedOrigins?: string[];
  /** Coordinate refresh and sign-out with the other tabs of this origin. Default: on in browsers. */
  crossTab?: boolean;
  /** Use Web Locks when the browser has them (default). `false` forces the BroadcastChannel fallback. */
  useWebLocks?: boolean;
  /** The `fetch` to use. Default: the global one. */
  fetch?: typeof globalThis.fetch;
}

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const FORM = "application/x-www-form-urlencoded";

function pageLocation(): Location | undefined {
  return (globalThis as { location?: Location }).location;
}

function isBrowser(): boolean {
  return typeof (globalThis as { document?: unknown }).document === "object";
}

/**
 * A Tessera client for browsers, Node and native apps. Every request it makes itself, and every
 * request sent through {@link TesseraClient.fetch}, carries the credential of the chosen mode;
 * a 401 in token mode refreshes once (one refresh for all concurrent failures, and for all tabs
 * of the origin) and retries once.
 *
 * Events: `sessionended` (`CustomEvent<SessionEndedDetail>`), `signedin`, `refreshed`.
 */
export class TesseraClient extends EventTarget {
  readonly mode: Mode;
  readonly transport: Transport;
  readonly baseUrl: string;
  readonly #store: SecretStore;
  readonly #fetch: typeof globalThis.fetch;
  readonly #clientId: string | undefined;
  readonly #trusted: Set<string>;
  readonly #tabs: TabCoordinator | undefined;
  #credentials: StoredCredentials = {};
  #csrfToken: string | undefined;
  #signedIn: boolean | undefined;
  /** Counts credential changes; a request sent before the latest one retries without refreshing. */
  #generation = 0;
  #refreshing: Promise<boolean> | undefined;

  constructor(options: ClientOptions) {
    super();
    const origin = pageLocation()?.origin;
    const base = options.baseUrl ?? origin;
    if (!base) throw new TypeError("baseUrl is required outside a browser");
    this.baseUrl = base.replace(/\/+$/, "");
    this.mode = options.mode;
    this.transport = options.transport ?? (isBrowser() ? "cookie" : "body");
    this.#store = options.store ?? new MemoryStore();
    this.#clientId = options.clientId;
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#trusted = new Set(
      (options.trustedOrigins ?? [this.baseUrl, origin ?? this.baseUrl]).map((u) => new URL(u).origin),
    );
    // Tabs share the cookie jar, hence cookie credentials; body secrets only through a shared store.
    const shared = this.#usesCookies || options.store !== undefined;
    if (shared && options.crossTab !== false && TabCoordinator.available()) {
      const name = `${this.baseUrl}|${this.mode}|${this.transport}`;
      this.#tabs = new TabCoordinator(name, { useLocks: options.useWebLocks !== false });
      this.#tabs.onMessage((message) => void this.#fromOtherTab(message));
    }
  }

  /** Whether the client believes it is signed in; `undefined` before login or {@link restore}. */
  get signedIn(): boolean | undefined {
    return this.#signedIn;
  }

  /** The CSRF token of the current cookie session, when known. */
  get csrfToken(): string | undefined {
    return this.#csrfToken;
  }

  /** Whether refreshes across tabs are serialised by Web Locks (false: fallback or no tabs). */
  get usesWebLocks(): boolean {
    return this.#tabs?.hasLocks ?? false;
  }

  /** Stops listening to the other tabs (the session itself is left alone). */
  close(): void {
    this.#tabs?.close();
  }

  get #usesCookies(): boolean {
    return this.mode === "cookie" || (this.mode === "token" && this.transport === "cookie");
  }

  // ---- account calls ------------------------------------------------------------------------

  /** `POST /v1/users`. Does not sign in. */
  async signUp(email: string, password: string): Promise<CreatedUser> {
    return this.#json(await this.#plain("/v1/users", { method: "POST", body: { email, password } }));
  }

  /** Signs in with the mode's method and keeps what it needs to authenticate later calls. */
  async login(email: string, password: string): Promise<void> {
    if (this.mode === "token") {
      const response = await this.#plain("/v1/token", {
        method: "POST",
        form: {
          grant_type: "password",
          username: email,
          password,
          transport: this.transport,
          ...(this.#clientId ? { client_id: this.#clientId } : {}),
        },
      });
      await this.#acceptGrant(await this.#json(response));
    } else {
      const transport = this.mode === "cookie" ? "cookie" : "body";
      const response = await this.#plain("/v1/session", {
        method: "POST",
        body: { email, password, transport },
      });
      const body = await this.#json<{ csrf_token: string; session_token?: string }>(response);
      if (body.session_token) await this.#saveCredentials({ sessionToken: body.session_token });
      this.#csrfToken = body.csrf_token;
    }
    await this.#signedInNow();
  }

  /**
   * Picks up an existing sign-in after a page load or an app start: the cookies and the CSRF
   * token another tab recorded, or the secrets in the store. Returns who is signed in, or
   * `undefined` (no event) when nobody is.
   */
  async restore(): Promise<WhoAmI | undefined> {
    if (this.#usesCookies) {
      this.#csrfToken ??= (await this.#tabs?.read())?.csrfToken;
    } else {
      this.#credentials = (await this.#store.load()) ?? {};
      if (!this.#credentials.sessionToken && !this.#credentials.refreshToken) {
        this.#signedIn = false;
        return undefined;
      }
    }
    this.#signedIn = undefined;
    try {
      const me = await this.whoAmI();
      this.#signedIn = true;
      return me;
    } catch (error) {
      if (error instanceof TesseraError && error.status === 401) {
        this.#signedIn = false;
        return undefined;
      }
      throw error;
    }
  }

  /** `GET /v1/session`: the session, the user and the session's CSRF token. */
  async whoAmI(): Promise<WhoAmI> {
    const me = await this.#json<WhoAmI>(await this.#api("/v1/session"));
    this.#csrfToken = me.csrf_token;
    return me;
  }

  /** Every live session of the user. */
  async sessions(): Promise<Session[]> {
    return (await this.#json<{ sessions: Session[] }>(await this.#api("/v1/sessions"))).sessions;
  }

  /** Ends one of the user's sessions (`not_found` when it is not theirs or already over). */
  async revokeSession(id: string): Promise<void> {
    await this.#json(await this.#api(`/v1/sessions/${encodeURIComponent(id)}`, { method: "DELETE" }));
  }

  /** Ends every session of the user but this one. */
  async signOutOthers(): Promise<void> {
    await this.#json(await this.#api("/v1/sessions?scope=others", { method: "DELETE" }));
  }

  /**
   * `POST /v1/password`. The server ends every other session and replaces this one; the client
   * takes the successor (new cookies and CSRF token, new session token, or new token pair).
   */
  async changePassword(currentPassword: string, newPassword: string): Promise<void> {
    const response = await this.#api("/v1/password", {
      method: "POST",
      body: { current_password: currentPassword, new_password: newPassword },
    });
    if (response.status === 204) {
      // Cookie callers: the successor came as cookies; its CSRF token belongs to the new session.
      await this.whoAmI();
      await this.#signedInNow();
      return;
    }
    const body = await this.#json<{ session_token?: string } & GrantBody>(response);
    if (body.session_token) await this.#saveCredentials({ sessionToken: body.session_token });
    else await this.#acceptGrant(body);
    this.#generation++;
  }

  /** Ends the session on the server and forgets it here and in the other tabs. */
  async logout(): Promise<void> {
    try {
      if (this.mode === "token" && this.transport === "body") {
        const token = this.#credentials.refreshToken ?? this.#credentials.accessToken;
        if (token) await this.#plain("/v1/token/revoke", { method: "POST", form: { token } });
      } else if (this.#signedIn !== false) {
        const response = await this.#api("/v1/session", { method: "DELETE" });
        if (!response.ok && response.status !== 401) throw await TesseraError.from(response);
      }
    } finally {
      await this.#end("logout", false);
    }
  }

  // ---- the fetch wrapper --------------------------------------------------------------------

  /**
   * `fetch` with the credential attached for trusted origins: cookies (`credentials:
   * "include"`) with `X-CSRF-Token` on unsafe methods, or `Authorization: Bearer`. In token mode
   * a 401 refreshes once and retries once; the response is returned as `fetch` would, a 401
   * included when the session is over (`sessionended` has then been emitted).
   */
  async fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const base = new Request(this.#resolve(input), init);
    if (!this.#trusted.has(new URL(base.url).origin)) return this.#fetch(base);
    // A body that is a stream cannot be sent twice; keep a copy for the retry.
    const spare = base.clone();
    const first = await this.#attempt(base);
    if (first.response.status !== 401) return first.response;
    if (!this.#canRefresh) {
      if (this.#signedIn && new URL(base.url).href.startsWith(`${this.baseUrl}/v1/`)) {
        await this.#end("unauthorized", false);
      }
      return first.response;
    }
    if (!(await this.#refreshAfter(first.generation, first.sentAt))) return first.response;
    return (await this.#attempt(spare)).response;
  }

  async #attempt(request: Request): Promise<{ response: Response; generation: number; sentAt: number }> {
    const generation = this.#generation;
    const sentAt = Date.now();
    const headers = new Headers(request.headers);
    const unsafe = UNSAFE.has(request.method.toUpperCase());
    if (this.#usesCookies) {
      if (unsafe && this.#csrfToken && !headers.has("x-csrf-token")) headers.set("x-csrf-token", this.#csrfToken);
    } else if (!headers.has("authorization")) {
      const secret = this.#credentials.sessionToken ?? this.#credentials.accessToken;
      if (secret) headers.set("authorization", `Bearer ${secret}`);
    }
    const credentials: RequestCredentials = this.#usesCookies ? "include" : "same-origin";
    const response = await this.#fetch(new Request(request, { headers, credentials }));
    return { response, generation, sentAt };
  }

  /** Whether a refresh could succeed: token mode, not signed out, and holding what it needs. */
  get #canRefresh(): boolean {
    if (this.mode !== "token" || this.#signedIn === false) return false;
    // A cookie refresh needs the session's CSRF token; without it the server refuses (403).
    return this.transport === "body" ? Boolean(this.#credentials.refreshToken) : Boolean(this.#csrfToken);
  }

  // ---- refresh ------------------------------------------------------------------------------

  /**
   * One refresh for every request that failed with the same credential: a request sent before
   * the latest refresh just retries, and concurrent failures share the refresh in flight.
   */
  #refreshAfter(generation: number, sentAt: number): Promise<boolean> {
    if (generation !== this.#generation) return Promise.resolve(true);
    this.#refreshing ??= (async () => {
      try {
        const locked = () => this.#refreshLocked(sentAt);
        return await (this.#tabs ? this.#tabs.exclusive(locked) : locked());
      } finally {
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }

  /** Runs under the cross-tab lock: first see whether another tab has just done the work. */
  async #refreshLocked(sentAt: number): Promise<boolean> {
    if (this.#usesCookies) {
      const shared = await this.#tabs?.read();
      if (shared?.signedOutAt && shared.signedOutAt > sentAt) {
        await this.#end("logout", true);
        return false;
      }
      if (shared?.refreshedAt && shared.refreshedAt > sentAt) {
        this.#csrfToken = shared.csrfToken ?? this.#csrfToken;
        this.#generation++;
        return true;
      }
    } else if (this.#tabs) {
      const stored = (await this.#store.load()) ?? {};
      if (stored.refreshToken !== this.#credentials.refreshToken) {
        this.#credentials = stored;
        this.#generation++;
        if (stored.refreshToken) return true;
        await this.#end("logout", true);
        return false;
      }
    }
    const form: Record<string, string> = { grant_type: "refresh_token" };
    const headers: Record<string, string> = {};
    if (this.transport === "body") {
      if (!this.#credentials.refreshToken) return false;
      form.refresh_token = this.#credentials.refreshToken;
    } else if (this.#csrfToken) {
      headers["x-csrf-token"] = this.#csrfToken;
    }
    if (this.#clientId) form.client_id = this.#clientId;
    let response: Response;
    try {
      response = await this.#plain("/v1/token", { method: "POST", form, headers });
    } catch {
      return false; // no answer: the session may well be alive; the caller gets its 401
    }
    if (!response.ok) {
      const error = await TesseraError.from(response);
      // Refused (expired, revoked, spent — the server then revokes the family): the session is
      // over. Anything else (throttled, unavailable, CSRF) is not proof of that.
      if (error.code === "invalid_grant" || error.code === "invalid_request") {
        await this.#end("refresh_failed", false);
      }
      return false;
    }
    await this.#acceptGrant(await response.json());
    const at = Date.now();
    await this.#tabs?.update({ refreshedAt: at, csrfToken: this.#csrfToken });
    this.#tabs?.post({ type: "refreshed", at });
    this.dispatchEvent(new Event("refreshed"));
    return true;
  }

  // ---- state ---------------------------------------------------------------------------------

  async #acceptGrant(body: GrantBody): Promise<void> {
    if (body.csrf_token) this.#csrfToken = body.csrf_token;
    if (body.access_token && body.refresh_token) {
      await this.#saveCredentials({
        accessToken: body.access_token,
        refreshToken: body.refresh_token,
        accessExpiresAt: Date.now() + (body.expires_in ?? 0) * 1000,
      });
    }
    this.#generation++;
  }

  async #saveCredentials(credentials: StoredCredentials): Promise<void> {
    this.#credentials = credentials;
    await this.#store.save(credentials);
  }

  async #signedInNow(): Promise<void> {
    this.#signedIn = true;
    if (this.#usesCookies) await this.#tabs?.update({ csrfToken: this.#csrfToken, signedOutAt: 0 });
    this.#tabs?.post({ type: "signedin", csrfToken: this.#csrfToken });
    this.dispatchEvent(new Event("signedin"));
  }

  /** Forgets the session; tells the other tabs unless they told us. Emits once per session. */
  async #end(reason: EndReason, remote: boolean): Promise<void> {
    // A restore that finds no live session is not an ending: nobody was signed in.
    const wasSignedIn = this.#signedIn === true;
    this.#signedIn = false;
    this.#csrfToken = undefined;
    this.#credentials = {};
    this.#generation++;
    if (!remote) {
      await this.#store.save(undefined);
      const at = Date.now();
      await this.#tabs?.update({ signedOutAt: at, csrfToken: undefined });
      this.#tabs?.post({ type: "signedout", at });
    }
    if (wasSignedIn) {
      const detail: SessionEndedDetail = { reason, remote };
      this.dispatchEvent(new CustomEvent("sessionended", { detail }));
    }
  }

  async #fromOtherTab(message: TabMessage): Promise<void> {
    switch (message.type) {
      case "signedin":
        this.#csrfToken = message.csrfToken ?? this.#csrfToken;
        if (!this.#usesCookies) this.#credentials = (await this.#store.load()) ?? {};
        this.#signedIn = true;
        this.#generation++;
        break;
      case "refreshed":
        if (!this.#usesCookies) this.#credentials = (await this.#store.load()) ?? {};
        this.#generation++;
        break;
      case "signedout":
        if (this.#signedIn !== false) await this.#end("logout", true);
        break;
      default:
        break;
    }
  }

  // ---- HTTP ----------------------------------------------------------------------------------

  #resolve(input: RequestInfo | URL): RequestInfo | URL {
    if (typeof input !== "string" || /^[a-z][a-z0-9+.-]*:/i.test(input)) return input;
    return new URL(input, pageLocation()?.href ?? `${this.baseUrl}/`).href;
  }

  /** A call to Tessera through the fetch wrapper (credential, refresh). */
  async #api(path: string, options: { method?: string; body?: unknown } = {}): Promise<Response> {
    const init: RequestInit = { method: options.method ?? "GET" };
    if (options.body !== undefined) {
      init.body = JSON.stringify(options.body);
      init.headers = { "content-type": "application/json" };
    }
    try {
      return await this.fetch(`${this.baseUrl}${path}`, init);
    } catch (error) {
      throw networkError(error);
    }
  }

  /** A call to Tessera that carries no credential of the client's own (cookies excepted). */
  async #plain(
    path: string,
    options: { method: string; body?: unknown; form?: Record<string, string>; headers?: Record<string, string> },
  ): Promise<Response> {
    const headers: Record<string, string> = { accept: "application/json", ...options.headers };
    let body: string | undefined;
    if (options.form) {
      headers["content-type"] = FORM;
      body = new URLSearchParams(options.form).toString();
    } else if (options.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(options.body);
    }
    try {
      return await this.#fetch(`${this.baseUrl}${path}`, {
        method: options.method,
        headers,
        body,
        credentials: this.#usesCookies ? "include" : "same-origin",
      });
    } catch (error) {
      throw networkError(error);
    }
  }

  async #json<T = unknown>(response: Response): Promise<T> {
    if (!response.ok) throw await TesseraError.from(response);
    if (response.status === 204) return undefined as T;
    try {
      return (await response.json()) as T;
    } catch {
      throw new TesseraError("invalid_response", response.status, "the answer is not JSON");
    }
  }
}

interface GrantBody {
  access_token?: string;
  refresh_token?: string;
  expires_in?: number;
  csrf_token?: string;
}

function networkError(error: unknown): TesseraError {
  if (error instanceof TesseraError) return error;
  return new TesseraError("network_error", 0, error instanceof Error ? error.message : String(error));
}
