//! Key names, and the encoding of a task's place in its queue.
//!
//! Every key of one queue starts with the hash tag `{<prefix>:<queue>}`, so
//! on Redis Cluster a queue lives in one slot and its Lua scripts stay
//! atomic. Task records belong to their queue's tag too. The few global
//! keys (the set of queue names, the id → queue index) are written by
//! single-key commands outside scripts. A limited task type has a slot of
//! its own, `{<prefix>:type:<type>}`: its permits and rate buckets, one
//! for every queue (`redis/permits.rs`). The whole layout, schedules and
//! workers included, is in the module docs (`redis/mod.rs`, "Redis
//! Cluster").
//!
//! The ready set's member encoding (priority, then the fair round, then
//! `seq`, then id, in one
//! byte-ordered string) lives with the scripts that build it, in Lua.

use crate::task::{TaskId, WorkflowId};

/// Key names of one deployment (one prefix).
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

/// The keys of one queue, in the order every script receives them.
pub(crate) struct QueueKeys {
    /// `KEYS[1..=13]`: ready, delayed, running, done, created, paused,
    /// delayed order, index root, workflow outbox, limit, rate, type
    /// limits, fair.
    pub keys: [String; 13],
    /// Prefix of the queue's record keys (`ARGV[1]`): record = prefix + id;
    /// a waiting workflow step's arrived set (the tokens of its parents'
    /// ends it counted, see `workflow.rs`) is the record key + `:arrived`.
    pub record_prefix: String,
}

/// The keys of one task type's slot, in the order the permit scripts
/// receive them (`redis/permits.rs`): permits, type rate, key rates,
/// seeded.
pub(crate) struct TypeKeys {
    pub keys: [String; 4],
}

impl QueueKeys {
    /// Where the pause flag is in [`QueueKeys::keys`] (`KEYS[6]`).
    pub const PAUSED: usize = 5;
    /// The queue limit (`KEYS[10]`).
    pub const LIMIT: usize = 9;
    /// The rate limit's bucket (`KEYS[11]`).
    pub const RATE: usize = 10;
    /// The fair hash (`KEYS[13]`).
    pub const FAIR: usize = 12;
}

impl Keys {
    pub fn new(prefix: &str) -> Keys {
        Keys {
            prefix: prefix.to_owned(),
        }
    }

    pub fn queue(&self, queue: &str) -> QueueKeys {
        let tag = format!("{{{}:{queue}}}", self.prefix);
        QueueKeys {
            keys: [
                // Due pending tasks; all scores 0, members ordered by
                // `member()` (priority, then fair round, then seq, then id).
                format!("{tag}:ready"),
                // Pending tasks not due yet, scored by due time (µs).
                format!("{tag}:delayed"),
                // Running tasks, scored by lease deadline (µs).
                format!("{tag}:running"),
                // Terminal tasks, scored by finish time (µs), for purge.
                format!("{tag}:done"),
                // Every task, scored by creation time (µs), for list.
                format!("{tag}:created"),
                // Exists while the queue is paused.
                format!("{tag}:paused"),
                // The delayed tasks again, as members of the ready set
                // would be (queue order), so reorder sees them in O(log n).
                format!("{tag}:delayed-order"),
                // The root of the list indexes, and itself the set of task
                // types that have index entries. Under it, each scored by
                // creation time (µs), members ids: `<root>:state:<STATE>`
                // (every state but RUNNING, which is listed from the
                // running set), `<root>:type:<type>`, and
                // `<root>:state:<STATE>:<type>`; and `<root>:deadlines`,
                // the pending tasks with a deadline to start, scored by it
                // (what the expiry sweep reads). The scripts name them from
                // this key, so they share the queue's hash tag (slot); a
                // type may hold `:` yet names stay apart (a state has none).
                format!("{tag}:idx"),
                // Workflow steps of this queue that ended and whose
                // children have not all heard of it yet: field
                // `<id>:<ended at µs>`, value `<STATE> <child id>…`.
                // Written by the script that ends the step, emptied once
                // the children (maybe in other slots) counted the end
                // (see `redis/workflow.rs`).
                format!("{tag}:wf-outbox"),
                // The queue's limit (`Broker::set_queue_limit`), while it
                // has one. The claim script compares it with the running
                // set's size: both in the queue's slot, so one atomic step.
                format!("{tag}:limit"),
                // The queue's rate limit (`Broker::set_queue_rate_limit`),
                // while it has one: a hash of `starts`, `period` (µs) and
                // `tat`, the token bucket's time (`lifecycle::rate_spend`),
                // which the claim script reads and moves.
                format!("{tag}:rate"),
                // The queue's copy of the task type limits (`type_limits`,
                // the hash below): the claim script reads it in the
                // queue's slot, so no claim reads the global hash first.
                // Field `#v` is the version of the global hash it copies;
                // a queue without this key was never synced, and its
                // claim syncs it before claiming (`redis/type_limits.rs`).
                format!("{tag}:type-limits"),
                // Exists while the queue is fair (`Broker::set_queue_fair`):
                // a hash of `round`, the queue's current round (the
                // highest a claim took, `lifecycle::fair_claimed`), and
                // `l:<lane>`, each lane's next round, which the enqueue
                // script reads and moves (`lifecycle::fair_round`). Its
                // sibling `{tag}:fair:held` (not a KEYS entry: the scripts
                // name it from this one) holds the rounds the lanes' tasks
                // took (`lifecycle::HeldRounds`, helpers.lua).
                format!("{tag}:fair"),
            ],
            record_prefix: format!("{tag}:task:"),
        }
    }

    /// The id of the task that last took a unique key in `queue`, in the
    /// queue's slot (`lifecycle::holds_unique` reads its record).
    pub fn unique(&self, queue: &str, key: &str) -> String {
        format!("{{{}:{queue}}}:uniq:{key}", self.prefix)
    }

    /// Hash of the task type limits: field `l:<type>` its limit
    /// (`Broker::set_type_limit`), `k:<type>` its key limit
    /// (`Broker::set_key_limit`), `#v` its version. Outside every queue's
    /// slot: the setters copy it into each queue's slot (`KEYS[12]`),
    /// which the claim script reads.
    pub fn type_limits(&self) -> String {
        format!("{}:type-limits", self.prefix)
    }

    /// The keys of one task type's own slot (hash tag
    /// `{<prefix>:type:<type>}`): where its concurrency permits and rate
    /// buckets live, one for every queue (`redis/permits.rs`).
    pub fn type_slot(&self, task_type: &str) -> TypeKeys {
        let tag = format!("{{{}:type:{task_type}}}", self.prefix);
        TypeKeys {
            keys: [
                // The permits of the type's claimed tasks: members
                // `<id>:<attempt>`, scored by lease deadline (µs). Its
                // siblings `<permits>:key:<key>` hold those of one
                // concurrency key (named from this key, same slot).
                format!("{tag}:permits"),
                // The type's rate bucket time (µs), while it has one.
                format!("{tag}:type-rate"),
                // The key rate buckets: member the key, score its time,
                // while spent.
                format!("{tag}:key-rates"),
                // Exists once the permits were rebuilt from the queues'
                // running sets (`permits.rs`, "Upgrades and new limits").
                // (A queue named `type:<type>` shares this tag, so the
                // slot, but no key name: none of these is a queue's.)
                format!("{tag}:permits-seeded"),
            ],
        }
    }

    /// Set of every queue name seen (enqueue or pause).
    pub fn queues(&self) -> String {
        format!("{}:queues", self.prefix)
    }

    /// Set of a workflow's step ids (written with the steps' index
    /// entries, before their records).
    pub fn workflow(&self, workflow: WorkflowId) -> String {
        format!("{}:workflow:{workflow}", self.prefix)
    }

    /// Which queue a task id belongs to.
    pub fn task_queue(&self, id: TaskId) -> String {
        format!("{}:task-queue:{id}", self.prefix)
    }

    /// The pub/sub channel announcing work: `<queue>` when some is due,
    /// `<queue> <µs>` when a delayed task becomes the queue's earliest.
    pub fn work_channel(&self) -> String {
        format!("{}:work", self.prefix)
    }

    /// The pub/sub channel announcing tasks that ended (message: their
    /// ids, space-separated; `*`: some ended, ids unknown), for waiters.
    pub fn ended_channel(&self) -> String {
        format!("{}:ended", self.prefix)
    }

    /// The pub/sub channel announcing cancel requests for running tasks
    /// (message: task id).
    pub fn cancel_channel(&self) -> String {
        format!("{}:cancel", self.prefix)
    }

    /// The pub/sub channel announcing schedule writes (message: the
    /// schedule's name), so other processes' schedulers look again.
    pub fn schedule_channel(&self) -> String {
        format!("{}:schedules-changed", self.prefix)
    }

    /// The pub/sub channel announcing a worker control request (message:
    /// the worker's id).
    pub fn control_channel(&self) -> String {
        format!("{}:worker-control", self.prefix)
    }

    /// `SCAN` patterns matching every key of this deployment.
    pub fn patterns(&self) -> [String; 2] {
        let escaped: String = self
            .prefix
            .chars()
            .flat_map(|c| {
                let escape = matches!(c, '*' | '?' | '[' | ']' | '\\' | '{' | '}');
                escape.then_some('\\').into_iter().chain(std::iter::once(c))
            })
            .collect();
        [format!("{escaped}:*"), format!("\\{{{escaped}:*")]
    }
}
