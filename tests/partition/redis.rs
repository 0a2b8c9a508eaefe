//! The partition scenario on Redis (a private `redis-server`).

use std::sync::Arc;

use taskq::prelude::*;
use taskq::{RedisBackend, RedisConfig};

use crate::common::{self, PrivateRedis};
use crate::support::{Link, cut_off_worker};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(taskq_no_netns, ignore = "needs root and iproute2 (ip netns, tc)")]
#[cfg_attr(
    all(taskq_no_redis, not(taskq_no_netns)),
    ignore = "TASKQ_TEST_REDIS_URL is not set"
)]
async fn redis_partition_cancels_at_the_lease_and_resumes_after_the_heal() {
    let link = Link::create();
    let redis = PrivateRedis::start_on(&link.host_ip);
    let prefix = common::unique("partition");
    let mut config = RedisConfig::new(redis.url());
    config.prefix = prefix.clone();
    config.delete_keys_on_drop = true;
    let client = Client::new(Arc::new(
        RedisBackend::connect_with(config).await.expect("connect"),
    ))
    .expect("client");
    cut_off_worker(&link, &client, &redis.url(), Some(&prefix)).await;
}
