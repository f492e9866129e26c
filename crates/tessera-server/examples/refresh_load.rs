//! Refresh grants per second against a running server: `workers` clients, each with its own
//! token session, rotate their refresh tokens back to back for `seconds`.
//!
//! `cargo run --release --example refresh_load -- http://127.0.0.1:18080 10 16`
//! (the account `load@example.com` / `correct horse battery` must exist).

use std::time::{Duration, Instant};

use serde_json::Value;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:18080".into());
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10);
    let workers: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(16);
    let client = reqwest::Client::new();
    let url = format!("{base}/v1/token");

    let mut tokens = Vec::new();
    for _ in 0..workers {
        let body: Value = client
            .post(&url)
            .form(&[
                ("grant_type", "password"),
                ("username", "load@example.com"),
                ("password", "correct horse battery"),
            ])
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("login body");
        tokens.push(
            body["refresh_token"]
                .as_str()
                .expect("refresh token")
                .to_owned(),
        );
    }

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for mut token in tokens {
        let client = client.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let started = Instant::now();
                let r = client
                    .post(&url)
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", token.as_str()),
                    ])
                    .send()
                    .await
                    .expect("refresh");
                assert!(r.status().is_success(), "refresh failed: {}", r.status());
                let body: Value = r.json().await.expect("refresh body");
                body["refresh_token"]
                    .as_str()
                    .expect("successor")
                    .clone_into(&mut token);
                latencies.push(started.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("worker"));
    }
    all.sort();
    let pick = |per_mille: usize| all[(all.len() - 1) * per_mille / 1000].as_secs_f64() * 1000.0;
    println!(
        "refresh_grant    {:>10} req/s   p50 {:.2}ms  p99 {:.2}ms   ({} refreshes, {workers} workers, {seconds}s)",
        all.len() / usize::try_from(seconds).unwrap_or(usize::MAX).max(1),
        pick(500),
        pick(990),
        all.len()
    );
}
