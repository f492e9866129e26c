//! Caddy `forward_auth` with docs/integrations/Caddyfile.

use std::process::Command;

use crate::nginx::tempfile_dir;
use crate::support::{doc_config, have, sign_in_journey, Proxy, Stage};

#[tokio::test]
async fn caddy_forward_auth_guards_the_upstream() {
    if !have("caddy") {
        return;
    }
    let stage = Stage::new().await;
    let port = stage.port;

    let dir = tempfile_dir("caddy");
    // Global options for a throw-away instance (no admin endpoint, no certificates), then the
    // documented file unchanged.
    let caddyfile = format!(
        "{{\n\tadmin off\n\tauto_https off\n\tstorage file_system {}\n}}\n\n{}",
        dir.join("data").display(),
        doc_config("Caddyfile")
    );
    std::fs::write(dir.join("Caddyfile"), caddyfile).unwrap();
    let mut command = Command::new("caddy");
    command
        .arg("run")
        .arg("--adapter")
        .arg("caddyfile")
        .arg("--config")
        .arg(dir.join("Caddyfile"))
        .env("HOME", &dir)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("SITE_ADDRESS", &stage.site)
        .env("TESSERA_UPSTREAM", stage.tessera_address())
        .env("APP_UPSTREAM", stage.upstream.to_string());
    stage.reservation.release();
    let proxy = Proxy::start(command, port, &dir.join("caddy.log")).await;

    sign_in_journey(&stage.site, &stage.tessera, &proxy).await;
    drop(proxy);
    let _ = std::fs::remove_dir_all(&dir);
}
