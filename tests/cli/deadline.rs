//! Deadlines to start from the command line: `submit --expires-in`, a bad
//! one refused (exit 2, nothing stored), an expired task listed, shown
//! and waited for (exit 1).

use super::*;

pub(super) async fn submit_expires_in_and_expired_tasks_show(url: &str) {
    let refused = taskq(url, &["submit", "cli_echo", r#""x""#, "--expires-in", "0s"])
        .await
        .expect(Exit::Usage);
    assert!(refused.err.contains("expires_in"), "{}", refused.err);
    let id = submit(url, &["cli_echo", r#""late""#, "--expires-in", "1h"]).await;
    let client = client(url).await;
    let record = client.get(id).await.expect("stored");
    let deadline = record.expires_at.expect("a deadline") - record.created_at;
    assert!(
        deadline >= chrono::Duration::minutes(59) && deadline <= chrono::Duration::minutes(61),
        "expires in 1h: {deadline}"
    );
    let later = chrono::Utc::now() + chrono::Duration::hours(2);
    let expired = client
        .backend()
        .expire_overdue(later, 500)
        .await
        .expect("expire");
    assert_eq!(expired, 1);
    let shown = taskq(url, &["show", &id.to_string()])
        .await
        .expect(Exit::Ok);
    assert!(
        shown
            .out
            .lines()
            .any(|l| l.split_whitespace().eq(["state:", "EXPIRED"])),
        "{}",
        shown.out
    );
    assert!(shown.out.contains("expires at:"), "{}", shown.out);
    let listed = taskq(url, &["list", "--state", "expired", "--json"])
        .await
        .expect(Exit::Ok)
        .json();
    assert_eq!(listed["total"], 1, "{listed}");
    taskq(url, &["wait", &id.to_string()])
        .await
        .expect(Exit::TaskFailed);
}
