//! The partition scenario on MySQL's protocol: a private MariaDB
//! (`mariadb-install-db`, `mariadbd`) listening on the host's end of the
//! link, the worker on `SqlBackend::connect`'s default settings.

use std::sync::Arc;

use taskq::prelude::*;

use crate::common::PrivateMariadb;
use crate::support::{Link, cut_off_worker};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_netns, ignore = "needs root and iproute2 (ip netns, tc)")]
#[cfg_attr(
    all(taskq_no_mariadb_server, not(taskq_no_netns)),
    ignore = "no MariaDB server (/usr/sbin/mariadbd, /usr/bin/mariadb-install-db)"
)]
async fn mysql_partition_cancels_at_the_lease_and_resumes_after_the_heal() {
    let link = Link::create();
    let server = PrivateMariadb::start_on(&link.host_ip);
    let client = Client::new(Arc::new(
        taskq::SqlBackend::connect(&server.url())
            .await
            .expect("connect"),
    ))
    .expect("client");
    cut_off_worker(&link, &client, &server.url(), None).await;
}
