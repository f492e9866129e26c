//! The revocation-stream cursor a client sends back (`Last-Event-ID` / `?cursor=`).
//! Invariants: nothing panics; a decoded cursor has a representable time and encodes back to
//! the text it came from, so only cursors this server made are accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_engine::stream::Cursor;

fuzz_target!(|text: &str| {
    let Some(cursor) = Cursor::decode(text) else {
        assert!(Cursor::parse(text).is_err());
        return;
    };
    let _ = cursor.at();
    assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
    assert_eq!(
        cursor.encode(),
        text.trim(),
        "accepted a cursor the server never made"
    );
});
