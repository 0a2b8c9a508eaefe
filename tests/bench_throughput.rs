//! The throughput bench's parsing and CPU readings, tested: a bench
//! target (`harness = false`) runs no `#[test]`, so this test includes the
//! bench's own files and tests them here — the same code the bench runs,
//! not a copy. `cargo test --all-features --test bench_throughput`.

#[allow(dead_code)]
#[path = "../benches/throughput/settings.rs"]
mod settings;

mod settings_tests {
    use std::path::PathBuf;

    use super::settings::*;

    fn parse(args: &str) -> Result<Settings, String> {
        Settings::parse(args.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn bench_settings_default_to_the_embedded_backends() {
        let settings = parse("--bench").expect("parse");
        assert_eq!(settings.backends, ["memory", "sqlite"]);
        assert_eq!(settings.mode, Mode::All);
        assert_eq!(settings.n_for("memory"), 500_000);
        assert_eq!(settings.n_for("sqlite"), 100_000);
    }

    #[test]
    fn bench_settings_read_modes_and_forward_all_but_compare() {
        let settings = parse(
            "postgres redis -n 20000 --mode multi-process --workers 3 \
             --compare /tmp/old --rounds 2 --json --bench",
        )
        .expect("parse");
        assert_eq!(settings.backends, ["postgres", "redis"]);
        assert_eq!(settings.n_for("postgres"), 20_000);
        assert_eq!(settings.mode, Mode::MultiProcess);
        assert_eq!(settings.workers, 3);
        assert_eq!(settings.compare, Some(PathBuf::from("/tmp/old")));
        assert_eq!(settings.rounds, 2);
        assert!(settings.json);
        assert_eq!(
            settings.forwarded,
            [
                "postgres",
                "redis",
                "-n",
                "20000",
                "--mode",
                "multi-process",
                "--workers",
                "3"
            ]
        );
    }

    #[test]
    fn bench_settings_read_a_sqlite_child_worker() {
        let settings =
            parse("--child-worker redis-sqlite sqlite:///tmp/b.db --delivery redis://h#p")
                .expect("parse");
        assert_eq!(
            settings.child,
            Some(Child {
                backend: "redis-sqlite".into(),
                url: "sqlite:///tmp/b.db".into(),
                delivery: Some("redis://h#p".into()),
            })
        );
    }

    #[test]
    fn bench_settings_read_only_waiters() {
        let settings = parse("redis --only waiters").expect("parse");
        assert_eq!(settings.only, Some(Only::Waiters));
        assert_eq!(settings.forwarded, ["redis", "--only", "waiters"]);
    }

    #[test]
    fn bench_settings_refuse_bad_input() {
        for bad in [
            "-n",
            "-n lots",
            "--mode fast",
            "--only plain",
            "--only",
            "sqlite --verbose",
            "--delivery redis://h",
            "memory --mode multi-process",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}

#[allow(dead_code)]
#[path = "../benches/throughput/figure.rs"]
mod figure;

mod figure_tests {
    use super::figure::*;

    #[test]
    fn bench_figure_json_line_round_trips() {
        let figure = Figure::new("postgres", "burn-down cpu bench", 41.5, "µs/job");
        let line = figure.json_line();
        assert!(line.starts_with(r#"{"taskq_bench":{"#), "{line}");
        assert_eq!(Figure::from_json_line(&line), Some(figure));
        assert_eq!(Figure::from_json_line("postgres burn-down"), None);
        assert_eq!(Figure::from_json_line(r#"{"other":1}"#), None);
    }

    #[test]
    fn bench_figure_reads_an_older_binarys_sqlite_rate_lines() {
        let output = "\
sqlite         submit       20000 tasks in   0.12 s =    161000 tasks/s
sqlite         burn-down    20000 tasks in   0.31 s =     64000 jobs/s (pending backlog 0)
sqlite         idle submit→start latency over 200: p50 660µs, p99 1.2ms
sqlite         submit batch plain                  150000 tasks/s (median of 3; min 1, max 2)
";
        assert_eq!(
            read_output(output),
            [
                Figure::new("sqlite", "submit", 161_000.0, "tasks/s"),
                Figure::new("sqlite", "burn-down", 64_000.0, "jobs/s"),
            ]
        );
    }

    #[test]
    fn bench_figure_prefers_json_lines_over_human_ones() {
        let json = Figure::new("redis", "burn-down", 70_000.0, "jobs/s").json_line();
        let output = format!("redis  burn-down  10 tasks in 1.00 s = 10 jobs/s\n{json}\n");
        assert_eq!(
            read_output(&output),
            [Figure::new("redis", "burn-down", 70_000.0, "jobs/s")]
        );
    }

    #[test]
    fn bench_figure_merge_takes_medians_per_side() {
        let run = |rate: f64, cpu: Option<f64>| {
            let mut figures = vec![Figure::new("mysql", "burn-down", rate, "jobs/s")];
            if let Some(cpu) = cpu {
                figures.push(Figure::new("mysql", "burn-down cpu bench", cpu, "µs/job"));
            }
            figures
        };
        let this = [
            run(10.0, Some(5.0)),
            run(30.0, Some(7.0)),
            run(20.0, Some(6.0)),
        ];
        let other = [run(8.0, None), run(12.0, None)];
        let rows = merge(&this, &other);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].figure, "burn-down");
        assert_eq!((rows[0].this, rows[0].other), (Some(20.0), Some(10.0)));
        assert_eq!(rows[0].ratio(), Some(2.0));
        assert_eq!((rows[1].this, rows[1].other), (Some(6.0), None));
        assert_eq!(rows[1].ratio(), None);
    }
}

#[allow(dead_code)]
#[path = "../benches/throughput/cpu.rs"]
mod cpu;

mod cpu_tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use super::cpu::*;

    /// An excerpt of Redis 7's reply.
    const INFO: &str = "# CPU\r\nused_cpu_sys:12.345678\r\nused_cpu_user:30.000322\r\n\
        used_cpu_sys_children:0.004\r\nused_cpu_user_children:0.001\r\n\
        used_cpu_sys_main_thread:12.1\r\nused_cpu_user_main_thread:29.9\r\n";

    #[test]
    fn bench_redis_info_cpu_sums_user_and_sys() {
        let spent = info_cpu(INFO).expect("parsed");
        assert_eq!(spent.as_micros(), 42_346_000);
        assert_eq!(info_cpu("# CPU\r\nused_cpu_sys:1.0\r\n"), None);
        assert_eq!(info_cpu("used_cpu_sys:x\r\nused_cpu_user:1\r\n"), None);
    }

    /// This thread's CPU time, from a clock independent of getrusage.
    fn thread_cpu() -> Duration {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime only writes the struct it is given.
        let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
        assert_eq!(status, 0, "clock_gettime");
        Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
    }

    /// Burns `cpu` of CPU time on this thread, however busy the machine
    /// (at most a minute of waiting).
    fn spin(cpu: Duration) {
        let started = thread_cpu();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let mut x = 0u64;
        while thread_cpu() - started < cpu {
            assert!(std::time::Instant::now() < deadline, "no CPU for a minute");
            for _ in 0..1000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        }
    }

    #[test]
    fn bench_own_cpu_grows_with_work() {
        let before = own();
        spin(Duration::from_millis(100));
        let spent = own().saturating_sub(before);
        assert!(spent >= Duration::from_millis(100), "{spent:?}");
    }

    /// The `/proc` reading on this test process itself: found by its
    /// name, and its ticks grow with the work done.
    #[cfg(target_os = "linux")]
    #[test]
    fn bench_process_ticks_see_a_process_by_name() {
        let me = procfs::process::Process::myself().expect("/proc/self");
        let comm = me.stat().expect("stat").comm;
        let before = process_ticks(&[&comm]);
        assert!(
            before.keys().any(|(pid, _)| *pid == me.pid),
            "{comm} not among {before:?}"
        );
        spin(Duration::from_millis(300));
        let after = process_ticks(&[&comm]);
        let spent = ticks_spent(&before, &after).expect("found");
        // Ticks are 10 ms: the reading may lag the thread's clock by one.
        assert!(spent >= Duration::from_millis(280), "{spent:?}");
        assert_eq!(ticks_spent(&before, &HashMap::new()), None);
    }

    #[test]
    fn bench_ticks_spent_counts_new_processes_whole_and_ended_ones_not() {
        let before = HashMap::from([((1, 10), 100), ((2, 20), 50)]);
        // 1 grew by 5 ticks, 2 ended, 2 again (a new start time) and 3 are new.
        let after = HashMap::from([((1, 10), 105), ((2, 99), 3), ((3, 30), 2)]);
        let spent = ticks_spent(&before, &after).expect("found");
        let ticks = spent.as_secs_f64() * ticks_per_second();
        assert!((ticks - 10.0).abs() < 1e-6, "{ticks}");
    }

    #[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
    #[tokio::test]
    async fn bench_redis_meter_reads_the_server_cpu() {
        let url = std::env::var("TASKQ_TEST_REDIS_URL").expect("TASKQ_TEST_REDIS_URL");
        let meter = Meter::watching(&[Watch::Redis(&url)]).await;
        let before = meter.mark().await;
        let after = meter.mark().await;
        let spent = meter.spent("test", &before, &after);
        assert_eq!(spent.parts.len(), 2);
        assert_eq!(spent.parts[1].0, "redis");
        // Redis's counters are cumulative: two readings always compare.
        assert!(spent.parts[1].1.is_some(), "INFO cpu was not read");
        assert!(spent.per_job(10).starts_with("CPU µs/job: test "));
    }
}

#[allow(dead_code)]
#[path = "../benches/throughput/child_line.rs"]
mod child_line;

mod child_line_tests {
    use std::time::Duration;

    use super::child_line::*;

    #[test]
    fn bench_child_lines_round_trip() {
        for line in [
            ChildLine::Ready,
            ChildLine::Ran(0),
            ChildLine::Ran(12_345),
            ChildLine::Done {
                ran: 9_999,
                cpu: Duration::from_micros(1_234_567),
            },
        ] {
            assert_eq!(ChildLine::parse(&line.to_string()), Some(line));
        }
    }

    #[test]
    fn bench_child_lines_refuse_other_output() {
        for other in [
            "",
            "ran",
            "ran x",
            "ran 1 2",
            "done 1",
            "done 1 2 3",
            "readyx",
            "ready 1",
        ] {
            assert_eq!(ChildLine::parse(other), None, "{other:?}");
        }
    }
}

#[allow(dead_code)]
#[path = "../benches/throughput/load.rs"]
mod load;

mod load_tests {
    use std::time::Duration;

    use super::load::*;

    /// An excerpt of Redis 7's `INFO stats` reply.
    const STATS: &str = "# Stats\r\ntotal_connections_received:12\r\n\
        total_commands_processed:48627\r\ninstantaneous_ops_per_sec:3\r\n";

    #[test]
    fn bench_load_reads_redis_commands_and_rates() {
        assert_eq!(info_commands(STATS), Some(48_627));
        assert_eq!(
            info_commands("# Stats\r\ntotal_commands_processed:x\r\n"),
            None
        );
        assert_eq!(info_commands("total_commands_processed_x:1\r\n"), None);
        assert_eq!(info_commands(""), None);
        let calls = info_command_calls(
            "# Commandstats\r\ncmdstat_evalsha:calls=12,usec=90,usec_per_call=7.50\r\n\
             cmdstat_hset:calls=3,usec=4\r\ncmdstat_bad:calls=x\r\n",
        );
        assert_eq!(
            calls.into_iter().collect::<Vec<_>>(),
            [("evalsha".to_owned(), 12), ("hset".to_owned(), 3)]
        );
        let two_seconds = Duration::from_secs(2);
        assert_eq!(per_second(Some(100), Some(150), two_seconds), Some(25.0));
        // A counter reset (a restarted server) reads as no growth.
        assert_eq!(per_second(Some(150), Some(100), two_seconds), Some(0.0));
        assert_eq!(per_second(None, Some(100), two_seconds), None);
        assert_eq!(per_second(Some(1), Some(2), Duration::ZERO), None);
        assert_eq!(unit("redis"), "commands/s");
        assert_eq!(unit("postgres"), "transactions/s");
        assert_eq!(unit("mysql"), "statements/s");
    }

    /// A live counter grows with the statements it sees (its own reading
    /// among them), whoever else uses the server.
    async fn counter_grows(backend: &str, url: &str) {
        let counter = Counter::open(backend, url).await.expect("a server counter");
        let before = counter.read().await.expect("read");
        for _ in 0..3 {
            counter.read().await.expect("read");
        }
        // PostgreSQL's backends flush their counts at most once a second.
        let mut after = counter.read().await.expect("read");
        for _ in 0..30 {
            if after > before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            after = counter.read().await.expect("read");
        }
        assert!(after > before, "{backend}: {before} → {after}");
    }

    #[cfg_attr(taskq_no_redis, ignore = "TASKQ_TEST_REDIS_URL is not set")]
    #[tokio::test]
    async fn bench_load_counts_redis_commands() {
        let url = std::env::var("TASKQ_TEST_REDIS_URL").expect("TASKQ_TEST_REDIS_URL");
        counter_grows("redis", &format!("{url}#prefix")).await;
    }

    #[cfg_attr(taskq_no_postgres, ignore = "TASKQ_TEST_POSTGRES_URL is not set")]
    #[tokio::test]
    async fn bench_load_counts_postgres_transactions() {
        let url = std::env::var("TASKQ_TEST_POSTGRES_URL").expect("TASKQ_TEST_POSTGRES_URL");
        counter_grows("postgres", &url).await;
    }

    #[cfg_attr(taskq_no_mysql, ignore = "TASKQ_TEST_MYSQL_URL is not set")]
    #[tokio::test]
    async fn bench_load_counts_mysql_statements() {
        let url = std::env::var("TASKQ_TEST_MYSQL_URL").expect("TASKQ_TEST_MYSQL_URL");
        counter_grows("mysql", &url).await;
    }

    #[tokio::test]
    async fn bench_load_has_no_counter_for_embedded_backends() {
        assert!(Counter::open("memory", "").await.is_none());
        assert!(Counter::open("sqlite", "sqlite::memory:").await.is_none());
    }
}
