/**
 * Finding the Tessera credential in a request, by the server's rules: `Authorization` wins over
 * cookies; `tss_` bearer values are session tokens, other bearer values access tokens.
 */

const SESSION_COOKIES = ["__Host-tessera_session", "tessera_session"];
const ACCESS_TOKEN_COOKIES = ["__Host-tessera_at", "tessera_at"];

export type Credential =
  | { kind: "access_token"; token: string }
  | { kind: "session_token"; token: string }
  | { kind: "cookie"; pair: string; value: string; accessToken: boolean };

/** Node's `IncomingHttpHeaders`, or Fetch `Headers`. */
export type HeaderSource = Headers | Record<string, string | string[] | undefined>;

export function header(headers: HeaderSource, name: string): string | undefined {
  if (typeof (headers as Headers).get === "function") return (headers as Headers).get(name) ?? undefined;
  const value = (headers as Record<string, string | string[] | undefined>)[name.toLowerCase()];
  return Array.isArray(value) ? value.join(name.toLowerCase() === "cookie" ? "; " : ", ") : value;
}

export function findCredential(headers: HeaderSource): Credential | undefined {
  const authorization = header(headers, "authorization");
  if (authorization !== undefined) {
    const match = /^bearer[ ]+(\S+)\s*$/i.exec(authorization);
    if (!match?.[1]) return undefined;
    const token = match[1];
    return token.startsWith("tss_") ? { kind: "session_token", token } : { kind: "access_token", token };
  }
  let session: Credential | undefined;
  for (const pair of (header(headers, "cookie") ?? "").split(";")) {
    const trimmed = pair.trim();
    const eq = trimmed.indexOf("=");
    if (eq <= 0) continue;
    const name = trimmed.slice(0, eq);
    const value = trimmed.slice(eq + 1);
    // The access-token cookie verifies locally; it wins over a session cookie sent alongside.
    if (ACCESS_TOKEN_COOKIES.includes(name)) return { kind: "cookie", pair: trimmed, value, accessToken: true };
    if (SESSION_COOKIES.includes(name)) session ??= { kind: "cookie", pair: trimmed, value, accessToken: false };
  }
  return session;
}

export function isUnsafe(method: string): boolean {
  return !["GET", "HEAD", "OPTIONS", "TRACE"].includes(method.toUpperCase());
}
