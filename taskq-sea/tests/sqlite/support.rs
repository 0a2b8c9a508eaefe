//! Fresh database files and the time helpers the SQLite tests share.

use super::*;

/// A fresh database file path (the file does not exist yet). Files the
/// suite's backends leave behind are removed by a later run once they are
/// an hour old.
pub(super) fn fresh_path() -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static SWEEP: std::sync::Once = std::sync::Once::new();
    let dir = std::env::temp_dir().join("taskq-sea-tests");
    std::fs::create_dir_all(&dir).expect("temp dir");
    SWEEP.call_once(|| {
        let stale = std::time::SystemTime::now() - Duration::from_secs(3600);
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let modified = entry.metadata().and_then(|m| m.modified());
            if modified.is_ok_and(|m| m < stale) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    dir.join(format!("{}-{nanos}-{n}.db", std::process::id()))
}

pub(super) fn url(path: &std::path::Path) -> String {
    format!("sqlite://{}", path.display())
}

/// Removes a database file and its WAL companions.
pub(super) fn remove_db(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}

pub(super) async fn fresh_sqlite() -> SeaBackend {
    SeaBackend::connect(&url(&fresh_path()))
        .await
        .expect("connect")
}

pub(super) fn ms(n: i64) -> chrono::Duration {
    chrono::Duration::milliseconds(n)
}

pub(super) fn us(n: i64) -> chrono::Duration {
    chrono::Duration::microseconds(n)
}

/// A time with a whole second (no fractional digits in its stored text).
pub(super) fn whole_second() -> DateTime<Utc> {
    Utc.timestamp_opt(Utc::now().timestamp() - 100, 0)
        .single()
        .expect("time")
}
