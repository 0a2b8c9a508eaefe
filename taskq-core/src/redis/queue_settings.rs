//! A queue's settings on Redis (paused, limit, rate limit, fair): each is
//! one key in the queue's slot (`Keys::queue`) that the scripts read, so
//! changing one is one write beside listing the queue, in one pipeline.

use fred::prelude::*;

use super::RedisBackend;
use super::keys::QueueKeys;
use crate::error::Error;

/// What a setter writes to its setting's key.
pub(super) enum SettingWrite {
    /// `SET key value`.
    Set(String),
    /// `HSET key field value …`: the named fields only, the others stay.
    Fields(Vec<(&'static str, String)>),
    /// `HSETNX key field value`: only where the field is not set yet.
    FieldIfNew(&'static str, &'static str),
    /// `DEL key`.
    Delete,
}

impl RedisBackend {
    /// The queue's fair hash (`KEYS[13]`, `QueueKeys::FAIR`).
    pub(super) fn fair_key(&self, queue: &str) -> String {
        self.queue_keys(queue).keys[QueueKeys::FAIR].clone()
    }

    /// The queue's fair weights (`Broker::set_fair_weight`): a hash beside
    /// the fair hash, in the queue's slot, that the enqueue script names
    /// from `KEYS[13]`.
    pub(super) fn fair_weights_key(&self, queue: &str) -> String {
        format!("{}:weights", self.fair_key(queue))
    }

    /// Lists `queue` (`Keys::queues`), applies `write` to its setting key
    /// `index` of `QueueKeys::keys` (`QueueKeys::PAUSED` …), and with `wake` tells every worker on the work
    /// channel (a lifted pause or limit may let tasks start): one round
    /// trip.
    pub(super) async fn write_queue_setting(
        &self,
        queue: &str,
        index: usize,
        write: SettingWrite,
        wake: bool,
    ) -> Result<(), Error> {
        let keys = self.queue_keys(queue);
        let key = keys.keys[index].as_str();
        let client = self.pool.next();
        let pipeline = client.pipeline();
        let _: () = pipeline
            .sadd(self.keys.queues(), queue)
            .await
            .map_err(Error::backend)?;
        let _: () = match write {
            SettingWrite::Set(value) => pipeline.set(key, value, None, None, false).await,
            SettingWrite::Fields(fields) => pipeline.hset(key, fields).await,
            SettingWrite::FieldIfNew(field, value) => pipeline.hsetnx(key, field, value).await,
            SettingWrite::Delete => pipeline.del(key).await,
        }
        .map_err(Error::backend)?;
        if wake {
            let _: () = pipeline
                .publish(self.keys.work_channel(), queue)
                .await
                .map_err(Error::backend)?;
        }
        for reply in pipeline.try_all::<Value>().await {
            reply.map_err(Error::backend)?;
        }
        Ok(())
    }
}
