//! nginx `auth_request` with docs/integrations/nginx.conf.

use std::process::Command;

use crate::support::{doc_config, have, sign_in_journey, Proxy, Stage};

#[tokio::test]
async fn nginx_auth_request_guards_the_upstream() {
    if !have("nginx") {
        return;
    }
    let stage = Stage::new().await;
    let port = stage.port;

    let dir = tempfile_dir("nginx");
    let site_conf = doc_config("nginx.conf")
        .replace("__LISTEN__", &format!("127.0.0.1:{port}"))
        .replace("__SERVER_NAME__", "127.0.0.1")
        .replace("__TESSERA__", stage.tessera_address())
        .replace("__APP__", &stage.upstream.to_string());
    std::fs::write(dir.join("site.conf"), site_conf).unwrap();
    let d = dir.display();
    // As root (CI), nginx's workers would switch to `nobody`; keep them the current user.
    let user = if is_root() { "user root;" } else { "" };
    let main_conf = format!(
        "{user}\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n\
         proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n\
         scgi_temp_path {d}/scgi;\n  include {d}/site.conf;\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), main_conf).unwrap();
    let mut command = Command::new("nginx");
    command
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-g")
        .arg("daemon off;");
    stage.reservation.release();
    let proxy = Proxy::start(command, port, &dir.join("stderr.log")).await;

    sign_in_journey(&stage.site, &stage.tessera, &proxy).await;
    drop(proxy);
    let _ = std::fs::remove_dir_all(&dir);
}

pub fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-{name}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}
