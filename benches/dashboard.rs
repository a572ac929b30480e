//! Terminal benchmarks. Needs the test bed and tmux:
//! `scripts/testbed up && eval "$(scripts/testbed env)" && cargo bench --bench dashboard`.
//!
//! 1. Time from exec to the first frame, in a real terminal (tmux, polled every 2 ms): the
//!    dashboard and the wizard, with the cluster unreachable (a kubeconfig pointing at a closed
//!    port), so nothing on the network is awaited before the first frame; beside `echo` under
//!    the same tmux and polling (the floor of the measurement): the ratio.
//! 2. Frame time of the full dashboard at 200×60 (TestBackend: the draw, not the terminal's
//!    write), on a picture of 40 checks, 8 workloads and 8 warnings.
//! 3. CPU while the dashboard sits idle on a healthy install: the process's user+system time
//!    over a window, from /proc, once the canary has passed.
//!
//! Under `cargo test` (CI) it runs the same steps smaller (5 exec rounds become 2, 2,000 frames
//! 200, 30 s of idle 10 s) and says so; the README's figures come from `cargo bench`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use caracal_deploy::core::checks::{Check, Report};
use caracal_deploy::core::live::{Live, Rollout, Warning};
use caracal_deploy::tui::dashboard::{DashMsg, Dashboard, Palette, draw};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use support::tmux::Tmux;
use support::verify_bed::{Install, bed_terminal_env, env};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Milliseconds from starting `command` in a fresh tmux until the screen shows `marker`.
fn first_frame(command: &str, envs: &[(&str, String)], marker: &str) -> f64 {
    let start = Instant::now();
    let tmux = Tmux::start(command, envs);
    loop {
        if tmux.screen().contains(marker) {
            return start.elapsed().as_secs_f64() * 1000.0;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{marker:?} never shown:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn exec_to_first_frame(rounds: usize) {
    let dir = tempfile::tempdir().unwrap();
    // A cluster that does not answer: the first frame must not wait for it.
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n\
         users: [{name: u, user: {token: x}}]\ncontexts: [{name: caracal-testbed, context: {cluster: c, user: u}}]\n\
         current-context: caracal-testbed\n",
    )
    .unwrap();
    let answers = dir.path().join("a.yaml");
    std::fs::write(
        &answers,
        std::fs::read_to_string(env("CARACAL_DEPLOY_ANSWERS_AWS")).unwrap(),
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_caracal-deploy");
    let envs = [
        ("KUBECONFIG", kubeconfig.display().to_string()),
        ("PATH", env("PATH")),
        ("HOME", env("HOME")),
    ];
    let cd = format!("cd '{}' && ", dir.path().display());
    let mut rows = Vec::new();
    for (name, command, marker) in [
        (
            "dashboard",
            format!("{cd}'{bin}' dashboard -f a.yaml; sleep 30"),
            "caracal-deploy dashboard",
        ),
        (
            "wizard",
            format!("{cd}'{bin}' -f a.yaml; sleep 30"),
            "caracal-deploy  step",
        ),
        (
            "echo (floor)",
            "echo caracal-first-frame; sleep 30".to_string(),
            "caracal-first-frame",
        ),
    ] {
        let times: Vec<f64> = (0..rounds)
            .map(|_| first_frame(&command, &envs, marker))
            .collect();
        rows.push((name, median(times)));
    }
    let floor = rows[2].1;
    println!("1. exec to first frame under tmux, cluster unreachable, median of {rounds}");
    for (name, ms) in &rows {
        println!(
            "   {name:<13} {ms:>7.1} ms   ratio to echo {:.2}",
            ms / floor
        );
    }
}

fn picture() -> Live {
    let mut report = Report::default();
    for i in 0..40 {
        let c = Check::new(
            &format!("check-{i:02}"),
            "a check of the bench, with a description",
        );
        report.push(
            ["store", "release", "tls", "network", "monitoring", "canary"][i % 6],
            match i % 4 {
                0 => c.error(
                    "Deployment/caracal-caracal-api 1/2 ready; api: CrashLoopBackOff (exit 1) and a long detail that wraps",
                    "kubectl -n caracal describe pod POD shows the kubelet's events",
                ),
                1 => c.warning("a warning detail", "a hint"),
                _ => c.success("all fine"),
            },
        );
    }
    Live {
        report,
        rollout: (0..8)
            .map(|i| Rollout {
                kind: "Deployment",
                name: format!("caracal-caracal-role-{i}"),
                desired: 2,
                updated: 2,
                ready: 1 + (i % 2),
                done: i % 2 == 1,
            })
            .collect(),
        warnings: (0..8)
            .map(|i| Warning {
                object: format!("Pod/caracal-caracal-api-{i}"),
                reason: "BackOff".into(),
                message: "Back-off restarting failed container api in pod".into(),
                count: i,
                last_seen: "2026-11-30T05:00:00Z".into(),
            })
            .collect(),
        canary_running: false,
    }
}

fn frame_time(frames: usize) {
    let answers = caracal_deploy::core::answers::Answers::from_yaml(
        &std::fs::read_to_string(env("CARACAL_DEPLOY_ANSWERS_AWS")).unwrap(),
    )
    .unwrap();
    let mut state = Dashboard::new(&answers, Palette { mono: false });
    state.update(DashMsg::Live(Box::new(picture())));
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    let mut times = Vec::with_capacity(frames);
    for i in 0..frames {
        // Each frame a different selection, as the operator moves.
        state.selected = i % 40;
        let t = Instant::now();
        terminal.draw(|f| draw(f, &state)).unwrap();
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let p99 = times[times.len() * 99 / 100];
    println!(
        "2. full dashboard frame at 200x60 (40 checks, 8 workloads, 8 warnings), {frames} frames: \
         mean {mean:.0} µs, p99 {p99:.0} µs (a change is drawn at most once per 33 ms)"
    );
}

/// utime + stime of `pid`, in clock ticks (/proc/PID/stat fields 14 and 15).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn idle_cpu(window: Duration) {
    let install = Install::new("bdash", |_| {});
    install.up(0, &[]);
    let command = format!(
        "exec '{}' dashboard -f '{}'",
        env!("CARGO_BIN_EXE_caracal-deploy"),
        install.path.display()
    );
    let tmux = Tmux::start(&command, &bed_terminal_env(&[]));
    tmux.until("the canary passed", Duration::from_secs(90), |s| {
        s.contains("√ ok      canary")
    });
    let pid: u32 = tmux
        .tmux(&["display-message", "-p", "-t", "s", "#{pane_pid}"])
        .trim()
        .parse()
        .unwrap();
    // Settle, then measure.
    std::thread::sleep(Duration::from_secs(2));
    let (t0, c0) = (Instant::now(), cpu_ticks(pid));
    std::thread::sleep(window);
    let (secs, ticks) = (t0.elapsed().as_secs_f64(), cpu_ticks(pid) - c0);
    let hz = clock_ticks_per_second() as f64;
    let cpu = ticks as f64 / hz;
    println!(
        "3. dashboard idle on a healthy install for {secs:.0} s: {cpu:.2} s of CPU = {:.2}% of one core",
        100.0 * cpu / secs
    );
    tmux.keys(&["q"]);
}

/// CLK_TCK without a libc dependency: Linux reports it in /proc/self/auxv as AT_CLKTCK (17).
fn clock_ticks_per_second() -> u64 {
    let auxv = std::fs::read("/proc/self/auxv").unwrap_or_default();
    for pair in auxv.chunks_exact(16) {
        let key = u64::from_ne_bytes(pair[..8].try_into().unwrap());
        let value = u64::from_ne_bytes(pair[8..].try_into().unwrap());
        if key == 17 {
            return value;
        }
    }
    100
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (rounds, frames, idle) = if full {
        (5, 2000, Duration::from_secs(30))
    } else {
        println!(
            "dashboard benchmark, reduced (under cargo test): 2 exec rounds, 200 frames, 10 s idle"
        );
        (2, 200, Duration::from_secs(10))
    };
    exec_to_first_frame(rounds);
    frame_time(frames);
    idle_cpu(idle);
}
