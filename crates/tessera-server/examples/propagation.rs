//! Revocation propagation between two instances on one Postgres database: log in on A, make
//! sure B accepts the access token, log out on A, and time how long until B refuses it.
//!
//! `cargo run --release --example propagation -- notify 200`   (LISTEN/NOTIFY)
//! `cargo run --release --example propagation -- redis 200`    (Redis pub/sub on 127.0.0.1:6379)
//!
//! Creates a throw-away database with `psql` on 127.0.0.1:5432 and drops it afterwards.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tessera_core::password::PasswordHasher;
use tessera_core::SystemClock;
use tessera_server::{Application, Config, Options};

fn psql(sql: &str) {
    let status = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-q",
            "-c",
            sql,
        ])
        .status()
        .expect("psql runs");
    assert!(status.success(), "psql {sql}");
}

async fn start(config_text: &str) -> String {
    // No verification mails: the example signs up users it never reads mail for.
    let config_text = format!("{config_text}\n[email]\nverification = \"off\"\n");
    let config = Config::from_toml_str(&config_text).expect("config");
    let hasher = PasswordHasher::with_params(argon2::Params::new(1024, 1, 1, None).unwrap());
    let app = Application::build(
        config,
        Options {
            clock: Arc::new(SystemClock),
            hasher,
        },
    )
    .await
    .expect("start");
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until(std::future::pending()));
    base
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "notify".into());
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(200);
    let db = format!("tessera_bench_{}", uuid::Uuid::new_v4().simple());
    psql(&format!("CREATE DATABASE {db}"));
    let cache = if mode == "redis" {
        "[cache]\nurl = \"redis://127.0.0.1:6379\"\n"
    } else {
        ""
    };
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[store]\nurl = \"postgres://postgres@127.0.0.1:5432/{db}\"\n{cache}\
         [limits]\nlogin_per_ip = \"100000/min\"\nlogin_per_account = \"100000/min\"\n\
         login_attempts_per_ip = \"100000/min\"\n"
    );
    let a = start(&text).await;
    let b = start(&text).await;
    let client = reqwest::Client::new();
    let creds = [
        ("grant_type", "password"),
        ("username", "p@example.com"),
        ("password", "correct horse battery"),
    ];
    client
        .post(format!("{a}/v1/users"))
        .json(&serde_json::json!({ "email": "p@example.com", "password": "correct horse battery" }))
        .send()
        .await
        .expect("sign-up");

    // From A's logout response to B's first refusal, and from sending the logout to that
    // refusal (which includes A's own work), plus how often B refused on its very first poll.
    let mut samples = Vec::with_capacity(rounds);
    let mut from_send = Vec::with_capacity(rounds);
    let mut first_poll = 0;
    for _ in 0..rounds {
        let grant: Value = client
            .post(format!("{a}/v1/token"))
            .form(&creds)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = grant["access_token"]
            .as_str()
            .expect("access token")
            .to_owned();
        let check = || {
            client
                .get(format!("{b}/v1/check"))
                .bearer_auth(&token)
                .send()
        };
        assert!(
            check().await.unwrap().status().is_success(),
            "B accepts the token first"
        );
        let sent = Instant::now();
        let r = client
            .delete(format!("{a}/v1/session"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
        let revoked_at = Instant::now();
        let mut polls = 0;
        loop {
            polls += 1;
            if check().await.unwrap().status().as_u16() == 401 {
                break;
            }
            assert!(
                revoked_at.elapsed() < Duration::from_secs(10),
                "never propagated"
            );
        }
        samples.push(revoked_at.elapsed());
        from_send.push(sent.elapsed());
        if polls == 1 {
            first_poll += 1;
        }
    }
    psql(&format!("DROP DATABASE {db} WITH (FORCE)"));

    report(&format!("propagation/{mode} (after A's 204)"), &mut samples);
    report(
        &format!("propagation/{mode} (from sending the logout)"),
        &mut from_send,
    );
    println!("B already refused on its first poll in {first_poll} of {rounds} rounds");
}

fn report(name: &str, samples: &mut [Duration]) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let pick = |per_mille: usize| ms(samples[(samples.len() - 1) * per_mille / 1000]);
    println!(
        "{name}: n={}  p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        samples.len(),
        pick(500),
        pick(900),
        pick(990),
        ms(samples[samples.len() - 1])
    );
}
