//! Refresh grants per second against a running server: `workers` clients, each with its own
//! token session, rotate their refresh tokens back to back for `seconds`.
//!
//! `cargo run --release --example refresh_load -- http://127.0.0.1:18080 10 16 [pids]`
//! (the account `load@example.com` / `correct horse battery` must exist). `pids`, a
//! comma-separated list of process ids (the server's, and a database's), adds the CPU seconds
//! those processes used during the timed phase only (utime + stime from `/proc`; Linux).

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
    let pids: Vec<u32> = args
        .next()
        .map(|list| {
            list.split(',')
                .filter_map(|p| p.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default();
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

    let cpu_before = cpu_seconds(&pids);
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
    let cpu = cpu_seconds(&pids) - cpu_before;
    all.sort();
    let pick = |per_mille: usize| all[(all.len() - 1) * per_mille / 1000].as_secs_f64() * 1000.0;
    println!(
        "refresh_grant    {:>10} req/s   p50 {:.2}ms  p99 {:.2}ms   cpu {cpu:.2}s   ({} refreshes, {workers} workers, {seconds}s)",
        all.len() / usize::try_from(seconds).unwrap_or(usize::MAX).max(1),
        pick(500),
        pick(990),
        all.len()
    );
}

/// utime + stime of `pids` in seconds, from `/proc/<pid>/stat` (clock ticks of 1/100 s, the
/// Linux default); processes that are gone count as zero.
fn cpu_seconds(pids: &[u32]) -> f64 {
    const TICKS_PER_SECOND: f64 = 100.0;
    let ticks: u64 = pids
        .iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| {
            // Fields after the parenthesised command name, which may itself contain spaces.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some(utime + stime)
        })
        .sum();
    #[allow(clippy::cast_precision_loss)]
    let seconds = ticks as f64 / TICKS_PER_SECOND;
    seconds
}
