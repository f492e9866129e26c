//! The one escaping helper and the page layout.
//!
//! Pages are small hand-written HTML. Every value that is not a literal in this crate goes
//! through [`esc`] — text and attribute values alike (attributes are always double-quoted, and
//! `esc` escapes both quote characters, so the same helper is safe in both places).

use std::fmt::{self, Write as _};

/// A value rendered with the five HTML-significant characters escaped: `& < > " '`.
#[derive(Debug, Clone, Copy)]
pub struct Esc<'a>(&'a str);

/// Escapes `text` for HTML text or a double-quoted attribute value.
pub fn esc(text: &str) -> Esc<'_> {
    Esc(text)
}

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#x27;",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;\
padding:0 1rem;color:#1d1d1f}h1{font-size:1.5rem}label{display:block;margin:.75rem 0 .25rem}\
input[type=text],input[type=password]{display:block;box-sizing:border-box;width:100%;\
max-width:22rem;padding:.4rem;font:inherit}[hidden]{display:none!important}\
button{font:inherit;padding:.35rem .9rem;margin-top:.75rem;cursor:pointer;white-space:nowrap}\
.error{color:#a40000;border-left:4px solid #a40000;padding:.25rem .75rem}\
.notice{color:#0b5a1b;border-left:4px solid #0b5a1b;padding:.25rem .75rem}\
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.4rem;\
border-bottom:1px solid #ddd;vertical-align:top}td form button{margin:0}\
.muted{color:#666;font-size:.9rem}.tag{font-size:.8rem;background:#e8f0fe;padding:0 .4rem;\
border-radius:3px}";

/// The whole document around `body`, which must already be escaped markup.
///
/// `<meta name="referrer" content="same-origin">` overrides the server-wide
/// `Referrer-Policy: no-referrer` for the document: under `no-referrer` a browser sends
/// `Origin: null` with every form POST (Fetch standard), which the CSRF origin check rightly
/// treats as foreign. `same-origin` sends the real origin to this server and nothing elsewhere.
pub fn document(title: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + STYLE.len() + 400);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"same-origin\">\n\
         <meta name=\"robots\" content=\"noindex\">\n\
         <title>{} · Tessera</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        esc(title)
    );
    out
}

/// A `<p class="error">` or `<p class="notice">` line, or nothing.
pub fn message(class: &str, text: Option<&str>) -> String {
    text.map_or_else(String::new, |t| {
        format!(
            "<p class=\"{}\" role=\"status\">{}</p>\n",
            esc(class),
            esc(t)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_significant_character() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\"").to_string(),
            "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(esc("plain ünïcode").to_string(), "plain ünïcode");
        assert_eq!(esc("").to_string(), "");
        assert_eq!(esc("&amp;").to_string(), "&amp;amp;");
    }

    #[test]
    fn the_title_is_escaped() {
        let page = document("<b>", "<p>ok</p>");
        assert!(page.contains("<title>&lt;b&gt; · Tessera</title>"));
        assert!(page.contains("<p>ok</p>"));
    }
}
