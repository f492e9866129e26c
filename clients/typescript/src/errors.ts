/**
 * The `error` codes of Tessera's API (RFC 6749 §5.2 where they apply), plus `network_error`
 * for a request that got no HTTP answer and `invalid_response` for an answer that is not the
 * API's JSON.
 */
export type ErrorCode =
  | "invalid_request"
  | "invalid_grant"
  | "invalid_client"
  | "unsupported_grant_type"
  | "invalid_scope"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "method_not_allowed"
  | "payload_too_large"
  | "unsupported_media_type"
  | "rate_limited"
  | "unavailable"
  | "server_error"
  | "network_error"
  | "invalid_response"
  | (string & {});

/** An API call that did not succeed. `code` is the API's `error` field. */
export class TesseraError extends Error {
  override readonly name = "TesseraError";
  readonly code: ErrorCode;
  /** HTTP status, 0 when there was no answer. */
  readonly status: number;
  /** Seconds from `Retry-After` on 429 and 503, when given. */
  readonly retryAfter: number | undefined;

  constructor(code: ErrorCode, status: number, description?: string, retryAfter?: number) {
    super(description ? `${code}: ${description}` : code);
    this.code = code;
    this.status = status;
    this.retryAfter = retryAfter;
  }

  /** Reads the API's error body; never throws, whatever the server sent. */
  static async from(response: Response): Promise<TesseraError> {
    let code: string = codeForStatus(response.status);
    let description: string | undefined;
    try {
      const body: unknown = await response.json();
      if (body && typeof body === "object") {
        const fields = body as Record<string, unknown>;
        if (typeof fields.error === "string") code = fields.error;
        if (typeof fields.error_description === "string") description = fields.error_description;
      }
    } catch {
      // Not JSON (a proxy's page, an empty 401): the status decides the code.
    }
    const retry = Number.parseInt(response.headers.get("retry-after") ?? "", 10);
    return new TesseraError(code, response.status, description, Number.isFinite(retry) ? retry : undefined);
  }
}

function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 400:
      return "invalid_request";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 409:
      return "conflict";
    case 413:
      return "payload_too_large";
    case 429:
      return "rate_limited";
    case 503:
      return "unavailable";
    default:
      return status >= 500 ? "server_error" : "invalid_response";
  }
}
