//! One `TestApp` method per e-mail endpoint, and [`SmtpSink`]: a real SMTP server process
//! (Python's aiosmtpd running `tests/smtp_sink.py`) whose received messages the tests read.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use super::{Auth, Call, TestApp};

impl TestApp {
    /// `POST /v1/password/reset`.
    pub fn request_password_reset(&self, email: &str) -> Call {
        self.raw(Method::POST, "/v1/password/reset")
            .json_body(&json!({ "email": email }))
    }

    /// `POST /v1/password/reset/confirm`.
    pub fn confirm_password_reset(&self, token: &str, new_password: &str) -> Call {
        self.raw(Method::POST, "/v1/password/reset/confirm")
            .json_body(&json!({ "token": token, "new_password": new_password }))
    }

    /// `POST /v1/email/verify`.
    pub fn confirm_email(&self, token: &str) -> Call {
        self.raw(Method::POST, "/v1/email/verify")
            .json_body(&json!({ "token": token }))
    }

    /// `POST /v1/email/verify/resend`.
    pub fn resend_verification(&self, email: &str) -> Call {
        self.raw(Method::POST, "/v1/email/verify/resend")
            .json_body(&json!({ "email": email }))
    }

    /// `POST /v1/email`.
    pub fn change_email(&self, auth: Auth<'_>, new_email: &str, current_password: &str) -> Call {
        self.raw(Method::POST, "/v1/email")
            .auth(auth)
            .json_body(&json!({ "new_email": new_email, "current_password": current_password }))
    }

    /// Mails the server wrote to its mail directory (no SMTP configured), raw.
    pub fn mail_files(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.mail_dir) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        files
    }
}

/// A mail the sink received.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Mail {
    /// The first link in the text part.
    pub fn link(&self) -> String {
        let start = self.text.find("http").expect("a link in the mail");
        self.text[start..]
            .split_whitespace()
            .next()
            .expect("link")
            .to_owned()
    }

    /// The `token` parameter of the mail's link.
    pub fn token(&self) -> String {
        let link = self.link();
        link.split_once("token=")
            .map(|(_, t)| t.to_owned())
            .expect("a token in the link")
    }
}

/// How long a mail may take to arrive on a loaded machine; polled, never a threshold.
pub const MAIL_PATIENCE: Duration = Duration::from_secs(20);

pub struct SmtpSink {
    pub port: u16,
    dir: PathBuf,
    child: Option<(Child, ChildStdin)>,
}

impl SmtpSink {
    /// A sink on a free port. `None` (the test is skipped) when Python's aiosmtpd is missing
    /// and CI is not set; under CI that is a failure.
    pub fn start() -> Option<Self> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("tessera-smtp-{}", uuid::Uuid::new_v4()));
        let mut sink = Self {
            port,
            dir,
            child: None,
        };
        sink.resume()?;
        Some(sink)
    }

    /// The `[email]` lines that send mail here.
    pub fn toml(&self) -> String {
        format!(
            "[email]\nsmtp_url = \"smtp://127.0.0.1:{}\"\ntimeout = \"5s\"\n",
            self.port
        )
    }

    /// Stops the server process: connections are refused until [`Self::resume`].
    pub fn stop(&mut self) {
        if let Some((mut child, stdin)) = self.child.take() {
            drop(stdin);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server process (again) on the same port and directory.
    pub fn resume(&mut self) -> Option<()> {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp_sink.py");
        let spawned = Command::new("python3")
            .arg(script)
            .arg(self.port.to_string())
            .arg(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => return missing(&format!("python3 ({e})")),
        };
        let stdin = child.stdin.take().expect("stdin");
        let mut line = String::new();
        let _ = BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line);
        if line.trim() != "ready" {
            let mut err = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut stderr, &mut err);
            }
            let _ = child.kill();
            let _ = child.wait();
            return missing(&format!("the aiosmtpd sink ({})", err.trim()));
        }
        self.child = Some((child, stdin));
        Some(())
    }

    /// Every mail received so far, oldest first.
    pub fn mails(&self) -> Vec<Mail> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|path| {
                let v: Value =
                    serde_json::from_str(&std::fs::read_to_string(path).expect("read mail"))
                        .expect("mail json");
                Mail {
                    to: v["to"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|t| t.as_str().unwrap().to_owned())
                        .collect(),
                    subject: v["subject"].as_str().unwrap().to_owned(),
                    text: v["text"].as_str().unwrap().to_owned(),
                    html: v["html"].as_str().unwrap().to_owned(),
                }
            })
            .collect()
    }

    /// Mails to `to`, oldest first.
    pub fn mails_to(&self, to: &str) -> Vec<Mail> {
        self.mails()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(to)))
            .collect()
    }

    /// Waits until `count` mails to `to` have arrived; returns them.
    pub async fn wait_for(&self, to: &str, count: usize) -> Vec<Mail> {
        let start = Instant::now();
        loop {
            let mails = self.mails_to(to);
            if mails.len() >= count {
                return mails;
            }
            assert!(
                start.elapsed() < MAIL_PATIENCE,
                "{count} mail(s) to {to} did not arrive in {MAIL_PATIENCE:?} (got {})",
                mails.len()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The newest mail to `to`, waiting for at least `count`.
    pub async fn latest(&self, to: &str, count: usize) -> Mail {
        self.wait_for(to, count).await.pop().expect("a mail")
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn missing<T>(what: &str) -> Option<T> {
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} is unavailable and CI is set (install with `pip install aiosmtpd`)"
    );
    eprintln!("skipping: {what} is unavailable (pip install aiosmtpd)");
    None
}
