//! The revocation stream behind a load balancer: a subscriber of one instance hears what
//! another instance revokes, and a cursor from one instance resumes on the other.

use super::support::{logout, unique_email, Credential};
use super::{Cluster, Feed};
use crate::revocations::{open_stream, registered_client, SseEvent, SseReader};

on_every_feed!(
    a_subscriber_of_b_hears_a_logout_on_a,
    a_cursor_from_a_resumes_on_b_without_a_skip,
);

async fn a_subscriber_of_b_hears_a_logout_on_a(feed: Feed) {
    let Some(cluster) = Cluster::start(feed, "").await else {
        return;
    };
    let (a, b) = (&cluster.a, &cluster.b);
    let client = registered_client(a).await;
    let email = unique_email();
    a.create_user(&email).await;
    let (token, body) = a.login_body(&email).await;
    let sid = body["session"]["id"].as_str().unwrap().to_owned();

    let mut stream = SseReader::new(open_stream(b, &client, None).await);
    stream.until_ready().await;
    logout(a, &Credential::Bearer(token), None).await;
    // Revocations of parallel tests never reach this database's instances, but the Redis feed
    // is shared: skip anything that is not ours.
    loop {
        if stream.next_revoked().await.sid() == sid {
            break;
        }
    }
}

async fn a_cursor_from_a_resumes_on_b_without_a_skip(feed: Feed) {
    let Some(cluster) = Cluster::start(feed, "").await else {
        return;
    };
    let (a, b) = (&cluster.a, &cluster.b);
    let client = registered_client(a).await;
    let email = unique_email();
    a.create_user(&email).await;
    let (token, body) = a.login_body(&email).await;
    let sid = body["session"]["id"].as_str().unwrap().to_owned();

    let mut on_a = SseReader::new(open_stream(a, &client, None).await);
    let (_, ready) = on_a.until_ready().await;
    drop(on_a);
    // Revoked while the subscriber was between instances.
    logout(a, &Credential::Bearer(token), None).await;

    let mut on_b = SseReader::new(open_stream(b, &client, ready.id.as_deref()).await);
    let (replayed, _) = on_b.until_ready().await;
    let replayed: Vec<String> = replayed.iter().map(SseEvent::sid).collect();
    assert!(replayed.contains(&sid), "{replayed:?}");
}
