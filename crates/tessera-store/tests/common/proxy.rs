//! A TCP proxy that a test controls, to make a server look down or hung to some clients only,
//! or to hang a connection that was fine a moment ago — things a real server cannot be asked
//! to do.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Relays both ways.
    Forward,
    /// Accepts and never answers, and stops relaying on the connections it was relaying
    /// without closing them (a hung server, or a network that black-holes packets). Those stay
    /// open and silent for good, as half-open connections do, until [`Mode::Refuse`] or the
    /// proxy's drop closes them; connections made after a return to [`Mode::Forward`] work.
    Hang,
    /// Closes every connection, new and old, at once (a server that is down).
    Refuse,
}

#[derive(Debug)]
pub struct Proxy {
    port: u16,
    mode: watch::Sender<Mode>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Relays 127.0.0.1:<port> to `target`, starting in [`Mode::Forward`].
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let mode = watch::channel(Mode::Forward).0;
        let modes = mode.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve(client, target, modes.subscribe()));
            }
        });
        Self { port, mode, accept }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_if_modified(|current| {
            let changed = *current != mode;
            *current = mode;
            changed
        });
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // The connections end when they see the mode sender go.
        self.accept.abort();
    }
}

async fn serve(mut client: TcpStream, target: SocketAddr, mut mode: watch::Receiver<Mode>) {
    let current = *mode.borrow_and_update();
    match current {
        Mode::Refuse => return,
        Mode::Hang => {
            hang(&mut mode).await;
            return;
        }
        Mode::Forward => {}
    }
    let Ok(mut upstream) = TcpStream::connect(target).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => return,
        changed = mode.changed() => if changed.is_err() { return },
    }
    let current = *mode.borrow_and_update();
    if current == Mode::Hang {
        // Both ends stay open, and nothing moves.
        hang(&mut mode).await;
    }
}

/// Returns when the connection is to be closed after all.
async fn hang(mode: &mut watch::Receiver<Mode>) {
    let _ = mode.wait_for(|mode| *mode == Mode::Refuse).await;
}
