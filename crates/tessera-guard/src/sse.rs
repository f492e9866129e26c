//! A minimal Server-Sent Events parser (the "event stream interpretation" of the WHATWG HTML
//! standard, §9.2.6), fed the response body chunk by chunk.
//!
//! Written here rather than taken from a crate because it is forty lines and the guard needs
//! two things EventSource clients hide: the `id` of each event (our resume cursor) and a bound
//! on how much an unterminated line may buffer. `retry:` is ignored: the guard has its own
//! backoff.

/// One dispatched event. `event` is `message` when the server named none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
    pub id: Option<String>,
}

/// A line longer than this ends the stream: Tessera's events are well under 1 KiB.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

#[derive(Debug, Default)]
pub struct SseParser {
    buffer: Vec<u8>,
    event: String,
    data: String,
    id: Option<String>,
    has_data: bool,
    /// The previous chunk ended on `\r`: a `\n` starting this one belongs to it.
    after_cr: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("event stream line longer than {MAX_LINE_BYTES} bytes")]
pub struct LineTooLong;

impl SseParser {
    /// Feeds bytes; returns the events completed by them.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, LineTooLong> {
        let mut events = Vec::new();
        for &byte in chunk {
            if std::mem::take(&mut self.after_cr) && byte == b'\n' {
                continue;
            }
            match byte {
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.buffer);
                    if let Some(event) = self.line(&line) {
                        events.push(event);
                    }
                }
                _ => {
                    if self.buffer.len() >= MAX_LINE_BYTES {
                        return Err(LineTooLong);
                    }
                    self.buffer.push(byte);
                }
            }
        }
        Ok(events)
    }

    fn line(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        let line = String::from_utf8_lossy(line);
        if line.starts_with(':') {
            return None; // a comment: the server's keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => value.clone_into(&mut self.event),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            // An id with NUL is ignored by the standard; ours never has one.
            "id" if !value.contains('\0') => self.id = Some(value.to_owned()),
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = std::mem::take(&mut self.event);
        let data = std::mem::take(&mut self.data);
        let id = self.id.take();
        if !std::mem::take(&mut self.has_data) {
            return None;
        }
        Some(SseEvent {
            event: if event.is_empty() {
                "message".to_owned()
            } else {
                event
            },
            data,
            id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_split_anywhere() {
        let text = ": keep-alive\r\n\r\nevent: revoked\r\nid: c1\r\ndata: {\"sid\":1}\r\n\r\n\
                    event: ready\nid: c2\ndata: {}\n\ndata:a\ndata:b\n\n";
        let expected = vec![
            SseEvent {
                event: "revoked".into(),
                data: "{\"sid\":1}".into(),
                id: Some("c1".into()),
            },
            SseEvent {
                event: "ready".into(),
                data: "{}".into(),
                id: Some("c2".into()),
            },
            SseEvent {
                event: "message".into(),
                data: "a\nb".into(),
                id: None,
            },
        ];
        for split in 0..text.len() {
            let mut parser = SseParser::default();
            let mut events = parser.feed(&text.as_bytes()[..split]).unwrap();
            events.extend(parser.feed(&text.as_bytes()[split..]).unwrap());
            assert_eq!(events, expected, "split at {split}");
        }
    }

    #[test]
    fn an_endless_line_is_refused() {
        let mut parser = SseParser::default();
        assert_eq!(parser.feed(&vec![b'a'; MAX_LINE_BYTES]).unwrap(), vec![]);
        assert_eq!(parser.feed(b"a"), Err(LineTooLong));
    }
}
