//! The `tessera` binary.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    tessera_server::telemetry::init_logging();
    tessera_server::cli::run().await
}
