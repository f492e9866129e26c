//! The sign-in `return_to` check (`routes::pages::return_to::safe`): never an open redirect.
//! First input line is the value, the rest the allowed origins, one per line. Invariants:
//! nothing panics; an accepted value is a single-slash path, or an absolute URL whose origin as
//! a browser computes it (the WHATWG URL parser of the `url` crate) is this server's or an
//! allowed one's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_server::routes::pages::return_to::safe;
use url::Url;

const OWN: &str = "https://auth.example.com";

fn browser_origin(url: &str) -> Option<String> {
    Url::parse(url)
        .ok()
        .map(|u| u.origin().ascii_serialization())
}

fuzz_target!(|data: &str| {
    let mut lines = data.split('\n');
    let raw = lines.next().unwrap_or("");
    // Allowed origins an operator could mean: ones a browser can parse. (`http://3...3` passes
    // `public_origin` but no browser goes there; allowing it allows nothing.)
    let mut allowed: Vec<String> = lines
        .filter(|a| Url::parse(a).is_ok())
        .map(str::to_owned)
        .collect();
    allowed.push("https://app.example.com".into());
    let Some(kept) = safe(raw, OWN, &allowed) else {
        return;
    };
    assert_eq!(kept, raw);
    assert!(raw.bytes().all(|b| b.is_ascii_graphic() && b != b'\\'));
    let base = Url::parse(OWN).unwrap();
    let followed = base
        .join(raw)
        .expect("a browser can follow an accepted return_to");
    let origin = followed.origin().ascii_serialization();
    let permitted: Vec<String> = std::iter::once(OWN)
        .chain(allowed.iter().map(String::as_str))
        .filter_map(browser_origin)
        .collect();
    assert!(permitted.contains(&origin), "{raw:?} leaves for {origin}");
});
