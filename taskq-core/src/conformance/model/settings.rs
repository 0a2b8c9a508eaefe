//! The operator's settings a case changes between its other steps: a
//! queue's pause flag, fairness, fair weights and rate limit; a task
//! type's concurrency, key, rate and key rate limits. Each is applied to
//! both sides and what each returns compared (a refused value by its
//! error's message).

use std::time::Duration;

use super::case::{Case, Returned, message};
use super::ops::{Op, QUEUES, TASK_TYPES};
use crate::rate_limit::RateLimit;

/// `starts` per `period_ms`, or none for 0 starts (a clear).
fn rate(starts: u32, period_ms: u64) -> Option<RateLimit> {
    (starts > 0).then(|| RateLimit::new(starts, Duration::from_millis(period_ms)))
}

impl Case<'_> {
    /// Applies a setting `op` to the reference and the backend, with what
    /// each returned.
    pub(super) async fn apply_setting(&mut self, op: &Op) -> (Returned, Returned) {
        let backend = self.backend;
        let reference = &mut self.reference;
        let (expected, actual) = match *op {
            Op::Pause { queue, paused } => {
                reference.set_queue_paused(QUEUES[queue], paused);
                (
                    Ok(()),
                    backend.set_queue_paused(QUEUES[queue], paused).await,
                )
            }
            Op::Fair { queue, fair } => {
                reference.set_queue_fair(QUEUES[queue], fair);
                (Ok(()), backend.set_queue_fair(QUEUES[queue], fair).await)
            }
            Op::FairWeight { queue, key, weight } => {
                let key = format!("k{key}");
                (
                    reference.set_fair_weight(QUEUES[queue], &key, weight),
                    backend.set_fair_weight(QUEUES[queue], &key, weight).await,
                )
            }
            Op::RateLimit {
                queue,
                starts,
                period_ms,
            } => {
                let limit = rate(starts, period_ms);
                reference.set_queue_rate_limit(QUEUES[queue], limit);
                (
                    Ok(()),
                    backend.set_queue_rate_limit(QUEUES[queue], limit).await,
                )
            }
            Op::TypeLimit { task_type, limit } => {
                let limit = (limit > 0).then_some(limit);
                (
                    reference.limits.set_limit(TASK_TYPES[task_type], limit),
                    backend.set_type_limit(TASK_TYPES[task_type], limit).await,
                )
            }
            Op::KeyLimit { task_type, limit } => {
                let limit = (limit > 0).then_some(limit);
                (
                    reference.limits.set_key_limit(TASK_TYPES[task_type], limit),
                    backend.set_key_limit(TASK_TYPES[task_type], limit).await,
                )
            }
            Op::TypeRateLimit {
                task_type,
                starts,
                period_ms,
            } => {
                let limit = rate(starts, period_ms);
                (
                    reference.limits.set_rate(TASK_TYPES[task_type], limit),
                    backend
                        .set_type_rate_limit(TASK_TYPES[task_type], limit)
                        .await,
                )
            }
            Op::KeyRateLimit {
                task_type,
                starts,
                period_ms,
            } => {
                let limit = rate(starts, period_ms);
                (
                    reference.limits.set_key_rate(TASK_TYPES[task_type], limit),
                    backend
                        .set_key_rate_limit(TASK_TYPES[task_type], limit)
                        .await,
                )
            }
            _ => unreachable!("not a setting: {op:?}"),
        };
        (
            Returned::Unit(message(expected)),
            Returned::Unit(message(actual)),
        )
    }
}
