//! The partition scenario on PostgreSQL: a private server (`initdb`,
//! `pg_ctl`) listening on the host's end of the link, the worker on
//! `SqlBackend::connect`'s default settings.
//!
//! Measured: with `SqlSettings` at SQLx's defaults instead (no keepalive
//! or `TCP_USER_TIMEOUT`, a 30 s acquire timeout) the worker still resumed
//! 0.8 s after the heal. The worker bounds each claim by its lease and
//! drops it when that passes; SQLx connects inside `acquire`, so the
//! dropped claim's connection attempt (its SYN backing off in the black
//! hole) goes with it, and the next claim's fresh attempt gets through at
//! once. What the resume check guards here is that bound; the settings
//! matter on the server side (a cut-off session's row locks) and for
//! statements nothing else bounds.

use std::sync::Arc;

use taskq::prelude::*;

use crate::common::PrivatePostgres;
use crate::support::{Link, cut_off_worker};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_netns, ignore = "needs root and iproute2 (ip netns, tc)")]
#[cfg_attr(
    all(taskq_no_postgres_server, not(taskq_no_netns)),
    ignore = "no PostgreSQL server binaries (initdb, pg_ctl under /usr/lib/postgresql)"
)]
async fn postgres_partition_cancels_at_the_lease_and_resumes_after_the_heal() {
    let link = Link::create();
    let server = PrivatePostgres::start_on(&link.host_ip);
    let client = Client::new(Arc::new(
        taskq::SqlBackend::connect(&server.url())
            .await
            .expect("connect"),
    ))
    .expect("client");
    cut_off_worker(&link, &client, &server.url(), None).await;
}
