//! Helpers shared by the fuzz targets.

use axum::http::{HeaderMap, HeaderName, HeaderValue};

/// A header map holding `name` once per value; values that are not legal header bytes are
/// dropped, as hyper would never hand them to a handler.
pub fn headers<'a>(name: &'static str, values: impl IntoIterator<Item = &'a [u8]>) -> HeaderMap {
    let mut map = HeaderMap::new();
    let name = HeaderName::from_static(name);
    for value in values {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            map.append(name.clone(), value);
        }
    }
    map
}
