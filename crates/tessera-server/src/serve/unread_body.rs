//! Request bodies a handler answered without reading (404, 405, 415, a form page fetched with a
//! body). HTTP/1.1 can only carry the next request once this one's body is off the wire: hyper
//! reads what has already arrived and otherwise closes the connection, yet its answer did not
//! say `Connection: close` (RFC 9112 §9.6), so a proxy reusing the connection fails. Here a small
//! leftover body is read to its end before the answer goes out; a large or slow one gets
//! `Connection: close`.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use hyper::body::{Frame, Incoming, SizeHint};

/// Where the handler's request body comes back if it was dropped before its end.
#[derive(Debug, Default, Clone)]
pub struct Leftover(Arc<Mutex<Option<Incoming>>>);

impl Leftover {
    /// The body to give the handler, reporting to this `Leftover`.
    pub fn track(&self, body: Incoming) -> Body {
        Body::new(Tracked {
            inner: Some(body),
            leftover: self.clone(),
        })
    }

    /// Reads an unfinished body of at most `limit` more bytes within `wait`, or marks
    /// `response` as the connection's last.
    pub async fn settle(&self, mut response: Response, limit: usize, wait: Duration) -> Response {
        let unread = self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
        let Some(body) = unread else {
            return response;
        };
        let drained = matches!(
            tokio::time::timeout(wait, drain(body, limit)).await,
            Ok(true)
        );
        if !drained {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// Reads `body` to its end unless it holds more than `limit` bytes or fails.
async fn drain(mut body: Incoming, limit: usize) -> bool {
    if body.size_hint().lower() > limit as u64 {
        return false;
    }
    let mut read = 0usize;
    loop {
        match poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            None => return true,
            Some(Ok(frame)) => {
                read += frame.data_ref().map_or(0, Bytes::len);
                if read > limit {
                    return false;
                }
            }
            Some(Err(_)) => return false,
        }
    }
}

/// The request body as the handler sees it; on drop, an unfinished body goes to its
/// [`Leftover`].
#[derive(Debug)]
struct Tracked {
    inner: Option<Incoming>,
    leftover: Leftover,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) {
            self.inner = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take().filter(|b| !b.is_end_stream()) {
            *self
                .leftover
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(inner);
        }
    }
}
