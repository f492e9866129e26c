//! Mail templates: a subject, a text body and an HTML body per kind of mail, rendered with
//! minijinja. Templates whose name ends in `.html` are auto-escaped, so an address or a product
//! name can never inject markup; the text parts are plain text and not escaped.
//!
//! The built-in templates are compiled in. A file of the same name in `email.templates_dir`
//! replaces one (`layout.html` is the frame every HTML body extends); all are parsed at start,
//! so a broken override stops the start instead of the first mail.

use std::path::Path;

use minijinja::Environment;
use serde::Serialize;
use tessera_core::MailKind;

macro_rules! builtin {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/mail/", $name)))),*]
    };
}

const BUILTIN: &[(&str, &str)] = builtin!(
    "layout.html",
    "password_reset.subject.txt",
    "password_reset.txt",
    "password_reset.html",
    "verify_email.subject.txt",
    "verify_email.txt",
    "verify_email.html",
    "email_change_confirm.subject.txt",
    "email_change_confirm.txt",
    "email_change_confirm.html",
    "email_changed.subject.txt",
    "email_changed.txt",
    "email_changed.html",
    "signup_exists.subject.txt",
    "signup_exists.txt",
    "signup_exists.html",
);

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read mail template {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("mail template {name} is invalid: {message}")]
    Invalid { name: String, message: String },
}

/// What a template can use.
#[derive(Debug, Serialize)]
pub struct MailContext<'a> {
    pub product_name: &'a str,
    pub public_url: &'a str,
    /// The recipient.
    pub email: &'a str,
    /// The other address of a change (the new one, in the notice to the old one).
    pub new_email: Option<&'a str>,
    /// The link the mail is about.
    pub link: &'a str,
    /// How long the link works, in whole minutes.
    pub expires_minutes: i64,
}

/// A rendered mail.
#[derive(Debug)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// The built-in templates, each replaced by a file of the same name in `overrides`.
    pub fn load(overrides: Option<&Path>) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        // Whitespace control that keeps text mails readable as written.
        env.set_trim_blocks(true);
        env.set_keep_trailing_newline(true);
        for (name, builtin) in BUILTIN {
            let source = match overrides.map(|dir| dir.join(name)) {
                Some(path) if path.is_file() => {
                    std::fs::read_to_string(&path).map_err(|source| TemplateError::Read {
                        path: path.display().to_string(),
                        source,
                    })?
                }
                _ => (*builtin).to_owned(),
            };
            env.add_template_owned(*name, source)
                .map_err(|e| invalid(name, &e))?;
        }
        let templates = Self { env };
        // Render each once with sample values: an override that parses but fails to render
        // (an unknown filter, say) is found now.
        for kind in MailKind::ALL {
            templates.render(kind, &MailContext::sample())?;
        }
        Ok(templates)
    }

    pub fn render(
        &self,
        kind: MailKind,
        context: &MailContext<'_>,
    ) -> Result<Rendered, TemplateError> {
        let one = |suffix: &str| {
            let name = format!("{}.{suffix}", kind.as_str());
            self.env
                .get_template(&name)
                .and_then(|t| t.render(context))
                .map_err(|e| invalid(&name, &e))
        };
        let subject = one("subject.txt")?;
        Ok(Rendered {
            // A header line: a template's line breaks must not start new headers.
            subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
            text: one("txt")?,
            html: one("html")?,
        })
    }
}

impl MailContext<'_> {
    fn sample() -> Self {
        MailContext {
            product_name: "Tessera",
            public_url: "http://localhost:8080",
            email: "someone@example.com",
            new_email: Some("other@example.com"),
            link: "http://localhost:8080/reset?token=tse_sample",
            expires_minutes: 30,
        }
    }
}

fn invalid(name: &str, err: &minijinja::Error) -> TemplateError {
    TemplateError::Invalid {
        name: name.to_owned(),
        message: err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context<'a>(email: &'a str, link: &'a str) -> MailContext<'a> {
        MailContext {
            product_name: "Acme <b>Auth</b>",
            public_url: "https://auth.example.com",
            email,
            new_email: None,
            link,
            expires_minutes: 30,
        }
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let t = Templates::load(None).unwrap();
        let link = "https://auth.example.com/reset?token=tse_x&a=\"b\"";
        let r = t
            .render(
                MailKind::PasswordReset,
                &context("o'brien@example.com", link),
            )
            .unwrap();
        assert_eq!(r.subject, "Reset your Acme <b>Auth</b> password");
        assert!(r.text.contains(link), "{}", r.text);
        assert!(
            r.html.contains("Acme &lt;b&gt;Auth&lt;&#x2f;b&gt;"),
            "{}",
            r.html
        );
        assert!(!r.html.contains("<b>Auth"));
        assert!(r.html.contains("href=\"https:&#x2f;&#x2f;auth.example.com&#x2f;reset?token=tse_x&amp;a=&quot;b&quot;\""), "{}", r.html);
    }

    #[test]
    fn a_file_in_the_directory_replaces_the_builtin() {
        let dir = std::env::temp_dir().join(format!("tessera-tpl-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("password_reset.subject.txt"),
            "Hello\nfrom {{ product_name }}",
        )
        .unwrap();
        let t = Templates::load(Some(&dir)).unwrap();
        let r = t
            .render(MailKind::PasswordReset, &context("a@example.com", "l"))
            .unwrap();
        assert_eq!(r.subject, "Hello from Acme <b>Auth</b>");
        std::fs::write(dir.join("verify_email.html"), "{{ link | nosuchfilter }}").unwrap();
        let err = Templates::load(Some(&dir)).unwrap_err();
        assert!(err.to_string().contains("verify_email.html"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
