/** One Server-Sent Event: `event` defaults to `message`; `id` is present only when sent. */
export interface SseEvent {
  event: string;
  data: string;
  id: string | undefined;
}

/**
 * An incremental parser of the `text/event-stream` format (HTML Living Standard §9.2.6): feed it
 * text as it arrives, in chunks cut anywhere, and get the complete events back.
 */
export class SseParser {
  #buffer = "";
  #event = "";
  #data: string[] = [];
  #id: string | undefined;
  #sawCr = false;

  feed(text: string): SseEvent[] {
    const events: SseEvent[] = [];
    let chunk = text;
    // A CRLF split between two chunks: the LF belongs to the CR already taken as a line end.
    if (this.#sawCr && chunk.startsWith("\n")) chunk = chunk.slice(1);
    this.#sawCr = false;
    this.#buffer += chunk;
    for (;;) {
      const end = this.#buffer.search(/[\r\n]/);
      if (end < 0) break;
      const line = this.#buffer.slice(0, end);
      let next = end + 1;
      if (this.#buffer[end] === "\r") {
        if (next === this.#buffer.length) this.#sawCr = true;
        else if (this.#buffer[next] === "\n") next++;
      }
      this.#buffer = this.#buffer.slice(next);
      const event = this.#line(line);
      if (event) events.push(event);
    }
    return events;
  }

  #line(line: string): SseEvent | undefined {
    if (line === "") {
      if (this.#data.length === 0 && this.#event === "") return undefined;
      const event: SseEvent = { event: this.#event || "message", data: this.#data.join("\n"), id: this.#id };
      this.#event = "";
      this.#data = [];
      this.#id = undefined;
      return event;
    }
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.#event = value;
    else if (field === "data") this.#data.push(value);
    else if (field === "id" && !value.includes("\0")) this.#id = value;
    return undefined;
  }
}
