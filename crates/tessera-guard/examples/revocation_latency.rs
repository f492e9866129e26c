//! Revocation reaching a guarded service: two Tessera instances A and B on one Postgres
//! database, a guard following B's revocation stream; log in on A, the guard accepts the access
//! token, log out on A, and time how long until the guard refuses it.
//!
//! `cargo run --release -p tessera-guard --example revocation_latency -- notify 200`
//! `cargo run --release -p tessera-guard --example revocation_latency -- redis 200`
//!
//! `notify` is the LISTEN/NOTIFY feed between the instances, `redis` Redis pub/sub on
//! 127.0.0.1:6379. Rounds alternate between the guard and a same-run baseline: `GET /v1/check`
//! on B (the instance the guard follows), so each gets the given number of rounds. Creates a
//! throw-away database with `psql` on 127.0.0.1:5432 and drops it afterwards.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tessera_core::password::PasswordHasher;
use tessera_core::SystemClock;
use tessera_guard::{Guard, GuardConfig};
use tessera_server::state::AppState;
use tessera_server::{Application, Config, Options};

const ISSUER: &str = "http://tessera.bench";
const PASSWORD: &str = "correct horse battery";
/// How often the guard is asked; from a plain thread, so the interval is not rounded up to
/// tokio's 1 ms timer.
const POLL: Duration = Duration::from_micros(500);
const GIVE_UP: Duration = Duration::from_secs(5);

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

async fn start(config_text: &str) -> (String, AppState) {
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
    let state = app.state();
    tokio::spawn(app.run_until(std::future::pending()));
    (base, state)
}

/// Times of one kind of round: from A's 204 to the refusal, and from sending the logout.
#[derive(Default)]
struct Samples {
    after_response: Vec<Duration>,
    from_send: Vec<Duration>,
    /// Rounds where the very first look after A's 204 already saw the refusal.
    first_look: usize,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
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
         [token]\nissuer = \"{ISSUER}\"\n\
         [limits]\nlogin_per_ip = \"100000/min\"\nlogin_per_account = \"100000/min\"\n\
         login_attempts_per_ip = \"100000/min\"\n"
    );
    let (a, a_state) = start(&text).await;
    let (b, _) = start(&text).await;
    let (client, secret) = tessera_engine::clients::create(&a_state, "bench", None)
        .await
        .expect("client");
    let guard = Guard::start(
        GuardConfig::new(ISSUER)
            .servers([b.clone()])
            .client(client.id.to_string(), secret.expose()),
    )
    .await
    .expect("the guard starts");
    assert!(guard.wait_in_sync(GIVE_UP).await, "the guard is in sync");

    let http = reqwest::Client::new();
    let email = "p@example.com";
    let r = http
        .post(format!("{a}/v1/users"))
        .json(&serde_json::json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .expect("sign-up");
    assert_eq!(r.status().as_u16(), 201, "sign-up");

    let mut guarded = Samples::default();
    let mut baseline = Samples::default();
    for round in 0..rounds * 2 {
        let grant: Value = http
            .post(format!("{a}/v1/token"))
            .form(&[
                ("grant_type", "password"),
                ("username", email),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let Some(token) = grant["access_token"].as_str().map(str::to_owned) else {
            panic!("password grant: {grant}");
        };
        let session = guard
            .verify_token(&token)
            .await
            .expect("the guard accepts the token first")
            .session;
        let check = || http.get(format!("{b}/v1/check")).bearer_auth(&token).send();
        assert!(
            check().await.unwrap().status().is_success(),
            "B accepts the token first"
        );

        let sent = Instant::now();
        let r = http
            .delete(format!("{a}/v1/session"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204, "logout");
        let revoked_at = Instant::now();

        let (samples, looks) = if round % 2 == 0 {
            let watcher = guard.clone();
            let looks = tokio::task::spawn_blocking(move || {
                let mut looks = 0;
                loop {
                    looks += 1;
                    if watcher.is_revoked(&session) {
                        return looks;
                    }
                    assert!(revoked_at.elapsed() < GIVE_UP, "never reached the guard");
                    std::thread::sleep(POLL);
                }
            })
            .await
            .unwrap();
            (&mut guarded, looks)
        } else {
            let mut looks = 0;
            loop {
                looks += 1;
                if check().await.unwrap().status().as_u16() == 401 {
                    break;
                }
                assert!(revoked_at.elapsed() < GIVE_UP, "never reached B");
            }
            (&mut baseline, looks)
        };
        samples.after_response.push(revoked_at.elapsed());
        samples.from_send.push(sent.elapsed());
        if looks == 1 {
            samples.first_look += 1;
        }
        assert!(
            guard.verify_token(&token).await.is_err(),
            "the guard refuses the token once it knows"
        );
    }
    drop(guard);
    psql(&format!("DROP DATABASE {db} WITH (FORCE)"));

    for (name, samples) in [("guard via B's stream", guarded), ("B /v1/check", baseline)] {
        let Samples {
            mut after_response,
            mut from_send,
            first_look,
        } = samples;
        report(
            &format!("{mode} {name} (after A's 204)"),
            &mut after_response,
        );
        report(
            &format!("{mode} {name} (from sending the logout)"),
            &mut from_send,
        );
        println!(
            "{mode} {name}: refused on the first look in {first_look} of {}",
            from_send.len()
        );
    }
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
