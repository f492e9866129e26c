//! Two instances on one Postgres store share one outbox: each queued mail is sent once, by
//! whichever instance claims it.

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use super::{Cluster, Feed};
use crate::helpers::SmtpSink;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_send_one_mail_per_request() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    // Both senders poll often, so both keep reaching for the same rows.
    let extra = format!(
        "{}verification = \"off\"\npoll_interval = \"10ms\"\n",
        sink.toml()
    );
    let Some(cluster) = Cluster::start(Feed::Listen, &extra).await else {
        return;
    };
    let users: Vec<String> = (0..5).map(|i| format!("mail-{i}@example.com")).collect();
    for user in &users {
        cluster.a.create_user(user).await;
    }
    let requests = users.iter().flat_map(|u| {
        [
            cluster.a.request_password_reset(u),
            cluster.b.request_password_reset(u),
        ]
    });
    for r in futures_util::future::join_all(requests.map(IntoFuture::into_future)).await {
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
    for user in &users {
        sink.wait_for(user, 2).await;
    }
    // Drained, and nothing more arrives afterwards: a second send of a row would land within
    // a few poll intervals.
    let start = Instant::now();
    while cluster.a.state.store.pending_mail().await.unwrap() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the outbox did not drain"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for user in &users {
        assert_eq!(
            sink.mails_to(user).len(),
            2,
            "one mail per request to {user}"
        );
    }
    assert_eq!(sink.mails().len(), 10);
    assert_eq!(
        cluster.db.scalar("SELECT COUNT(*) FROM mail_outbox").await,
        0
    );
}
