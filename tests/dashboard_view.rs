//! The dashboard drawn on ratatui's TestBackend at 80×24 and 200×60 in each of its states, and
//! its `update` for every message. (The live dashboard against the bed: tests/dashboard.rs.)

use caracal_deploy::core::checks::{Check, Outcome, Report};
use caracal_deploy::core::live::{Live, Rollout, Warning};
use caracal_deploy::exit::Exit;
use caracal_deploy::tui::dashboard::{DashEffect, DashMsg, Dashboard, Palette, draw, key_to_msg};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

fn answers() -> caracal_deploy::core::answers::Answers {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/answers-aws.yaml"
    ))
    .unwrap();
    caracal_deploy::core::answers::Answers::from_yaml(&text).unwrap()
}

fn report(broken: bool) -> Report {
    let mut r = Report::default();
    r.push(
        "preflight",
        Check::new("cluster-reachable", "the API server answers").success("v1.34.12"),
    );
    r.push(
        "store",
        Check::new("store-ready", "ClusterSecretStore Ready").success("caracal-store Ready"),
    );
    r.push(
        "store",
        if broken {
            Check::new("store-synced", "ExternalSecret synced").error(
                "caracal-runtime: SecretSyncedError: could not get secret data from provider: key caracal/redis",
                "seed it: caracal-deploy seed -f answers.yaml",
            )
        } else {
            Check::new("store-synced", "ExternalSecret synced").success("SecretSynced")
        },
    );
    r.push(
        "release",
        Check::new(
            "release-workloads",
            "Deployments and StatefulSets rolled out",
        )
        .success("6 rolled out"),
    );
    r.push(
        "monitoring",
        Check::new("monitoring-auth", "scraping sends the metrics bearer").warning(
            "the chart's ServiceMonitors send no bearer",
            "apply an authenticated ServiceMonitor",
        ),
    );
    r.push(
        "canary",
        if broken {
            Check::new("canary", "canary: STS token exchange, Gateway request, audit events")
                .skipped("runs once every other check has been read")
        } else {
            Check::new("canary", "canary: STS token exchange, Gateway request, audit events")
                .success("request 7f1c through Admin API https://api.example.com: allowed by the Gateway, audited (authorization_decision allow)")
        },
    );
    r
}

fn live(broken: bool) -> Live {
    Live {
        report: report(broken),
        rollout: vec![
            Rollout {
                kind: "Deployment",
                name: "caracal-caracal-api".into(),
                desired: 2,
                updated: 2,
                ready: if broken { 1 } else { 2 },
                done: !broken,
            },
            Rollout {
                kind: "StatefulSet",
                name: "caracal-caracal-sts".into(),
                desired: 2,
                updated: 2,
                ready: 2,
                done: true,
            },
        ],
        warnings: if broken {
            vec![Warning {
                object: "ExternalSecret/caracal-runtime".into(),
                reason: "UpdateFailed".into(),
                message: "could not get secret data from provider".into(),
                count: 12,
                last_seen: "2026-11-30T04:41:07Z".into(),
            }]
        } else {
            Vec::new()
        },
        canary_running: false,
    }
}

fn dashboard(mono: bool) -> Dashboard {
    Dashboard::new(&answers(), Palette { mono })
}

fn screen(state: &Dashboard, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| draw(f, state)).unwrap();
    t.backend().to_string()
}

fn states() -> Vec<(&'static str, Dashboard)> {
    let mut out = Vec::new();
    out.push(("listing", dashboard(true)));
    let mut healthy = dashboard(true);
    healthy.update(DashMsg::Live(Box::new(live(false))));
    out.push(("healthy", healthy.clone()));
    let mut broken = dashboard(true);
    broken.update(DashMsg::Live(Box::new(live(true))));
    broken.update(DashMsg::Down);
    broken.update(DashMsg::Down);
    out.push(("broken_store_selected", broken));
    let mut running = healthy.clone();
    let mut l = live(false);
    l.canary_running = true;
    running.update(DashMsg::Live(Box::new(l)));
    for _ in 0..9 {
        running.update(DashMsg::Down);
    }
    out.push(("canary_running", running));
    let mut help = healthy.clone();
    help.update(DashMsg::ToggleHelp);
    out.push(("help", help));
    let mut filtering = healthy.clone();
    filtering.update(DashMsg::FilterStart);
    for c in "store".chars() {
        filtering.update(DashMsg::FilterChar(c));
    }
    out.push(("filtering", filtering.clone()));
    let mut nothing = filtering;
    nothing.update(DashMsg::FilterChar('x'));
    nothing.update(DashMsg::FilterDone);
    out.push(("filter_matches_nothing", nothing));
    let mut failed = dashboard(true);
    failed.update(DashMsg::Failed(
        "cannot reach the cluster of context prod-eks: connection refused".into(),
    ));
    out.push(("engine_failed", failed));
    out
}

#[test]
fn every_state_at_80x24_and_200x60() {
    for (name, state) in states() {
        for (w, h) in [(80, 24), (200, 60)] {
            insta::assert_snapshot!(format!("dashboard_{name}_{w}x{h}"), screen(&state, w, h));
        }
    }
}

#[test]
fn below_80x24_it_says_how_big_it_must_be() {
    let mut d = dashboard(true);
    d.update(DashMsg::Live(Box::new(live(false))));
    for (w, h) in [(79, 24), (80, 23)] {
        let s = screen(&d, w, h);
        assert!(s.contains("needs at least 80×24"), "{s}");
        assert!(s.contains(&format!("{w}×{h}")), "{s}");
        assert!(!s.contains("canary"), "{s}");
    }
}

/// Colour follows the outcome; NO_COLOR (mono) draws no colour at all, the glyph and word
/// are the same in both.
#[test]
fn colour_is_never_the_only_signal_and_mono_has_none() {
    let mut colour = dashboard(false);
    colour.update(DashMsg::Live(Box::new(live(true))));
    let mut mono = colour.clone();
    mono.palette = Palette { mono: true };
    let draw_buf = |d: &Dashboard| {
        let mut t = Terminal::new(TestBackend::new(120, 40)).unwrap();
        t.draw(|f| draw(f, d)).unwrap();
        t.backend().buffer().clone()
    };
    let (c, m) = (draw_buf(&colour), draw_buf(&mono));
    let fgs = |b: &ratatui::buffer::Buffer| -> Vec<Color> {
        b.content()
            .iter()
            .map(|cell| cell.fg)
            .filter(|f| *f != Color::Reset)
            .collect()
    };
    assert!(fgs(&c).contains(&Color::Red), "an error is red");
    assert!(fgs(&c).contains(&Color::Yellow), "a warning is yellow");
    assert_eq!(fgs(&m), Vec::<Color>::new(), "mono: no colour");
    let text =
        |b: &ratatui::buffer::Buffer| b.content().iter().map(|c| c.symbol()).collect::<String>();
    assert_eq!(text(&c), text(&m), "the same glyphs and words");
    assert!(text(&m).contains("× error"));
}

#[test]
fn update_handles_every_message() {
    let mut d = dashboard(true);
    assert_eq!(d.exit(), Exit::Other, "nothing observed yet");
    // Nothing to re-run before the first picture.
    assert_eq!(d.update(DashMsg::RerunCanary), vec![]);
    d.update(DashMsg::Failed("gone".into()));
    assert_eq!(d.failed.as_deref(), Some("gone"));

    d.update(DashMsg::Live(Box::new(live(true))));
    assert_eq!(d.failed, None, "a picture clears the failure");
    assert_eq!(d.exit(), Exit::CheckFailed);
    assert_eq!(d.visible().len(), 6);

    // Down and Up stay within the list.
    d.update(DashMsg::Up);
    assert_eq!(d.selected, 0);
    for _ in 0..20 {
        d.update(DashMsg::Down);
    }
    assert_eq!(d.selected, 5);
    assert_eq!(d.selected_check().unwrap().id, "canary");
    d.update(DashMsg::Up);
    assert_eq!(d.selected_check().unwrap().id, "monitoring-auth");

    // A new picture keeps the selection on the same check.
    let mut fewer = live(false);
    fewer.report.categories.remove(0);
    d.update(DashMsg::Live(Box::new(fewer)));
    assert_eq!(d.selected_check().unwrap().id, "monitoring-auth");
    assert_eq!(d.exit(), Exit::Warnings);

    // The canary: once, not while it runs.
    assert_eq!(
        d.update(DashMsg::RerunCanary),
        vec![DashEffect::RerunCanary]
    );
    let mut running = live(false);
    running.canary_running = true;
    d.update(DashMsg::Live(Box::new(running)));
    assert_eq!(d.update(DashMsg::RerunCanary), vec![]);

    d.update(DashMsg::ToggleHelp);
    assert!(d.help);
    d.update(DashMsg::FilterStart);
    assert!(d.filtering && !d.help, "the filter closes the help");
    for c in "synced".chars() {
        d.update(DashMsg::FilterChar(c));
    }
    assert_eq!(
        d.visible()
            .iter()
            .map(|(_, c)| c.id.as_str())
            .collect::<Vec<_>>(),
        ["store-synced"]
    );
    d.update(DashMsg::FilterBackspace);
    assert_eq!(d.filter, "synce");
    d.update(DashMsg::FilterDone);
    assert!(!d.filtering && d.filter == "synce");
    d.update(DashMsg::FilterClear);
    assert!(d.filter.is_empty() && d.visible().len() == 6);
    assert_eq!(d.update(DashMsg::Quit), vec![DashEffect::Quit]);

    let mut green = live(false);
    green.report.categories.retain(|(c, _)| c != "monitoring");
    d.update(DashMsg::Live(Box::new(green)));
    assert!(
        d.live
            .as_ref()
            .unwrap()
            .report
            .checks()
            .all(|c| c.result == Outcome::Success)
    );
    assert_eq!(d.exit(), Exit::Success);
}

#[test]
fn keys_map_to_messages_as_k9s_users_expect() {
    let key = |c: KeyCode| KeyEvent::new(c, KeyModifiers::NONE);
    let mut d = dashboard(true);
    d.update(DashMsg::Live(Box::new(live(false))));
    for (k, want) in [
        (KeyCode::Down, Some(DashMsg::Down)),
        (KeyCode::Char('j'), Some(DashMsg::Down)),
        (KeyCode::Up, Some(DashMsg::Up)),
        (KeyCode::Char('k'), Some(DashMsg::Up)),
        (KeyCode::Char('c'), Some(DashMsg::RerunCanary)),
        (KeyCode::Char('?'), Some(DashMsg::ToggleHelp)),
        (KeyCode::Char('/'), Some(DashMsg::FilterStart)),
        (KeyCode::Char('q'), Some(DashMsg::Quit)),
        (KeyCode::Esc, Some(DashMsg::Quit)),
        (KeyCode::Char('x'), None),
    ] {
        assert_eq!(key_to_msg(&d, key(k)), want, "{k:?}");
    }
    assert_eq!(
        key_to_msg(&d, KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        Some(DashMsg::Quit)
    );
    // Esc closes the help before it quits; in the filter, letters are the filter's.
    d.update(DashMsg::ToggleHelp);
    assert_eq!(key_to_msg(&d, key(KeyCode::Esc)), Some(DashMsg::ToggleHelp));
    d.update(DashMsg::FilterStart);
    assert_eq!(
        key_to_msg(&d, key(KeyCode::Char('q'))),
        Some(DashMsg::FilterChar('q'))
    );
    assert_eq!(
        key_to_msg(&d, key(KeyCode::Enter)),
        Some(DashMsg::FilterDone)
    );
    assert_eq!(
        key_to_msg(&d, key(KeyCode::Esc)),
        Some(DashMsg::FilterClear)
    );
    assert_eq!(
        key_to_msg(&d, key(KeyCode::Backspace)),
        Some(DashMsg::FilterBackspace)
    );
}

/// Random keys and pictures at every size: never a panic.
#[test]
fn a_random_key_storm_never_panics() {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let codes = [
        KeyCode::Up,
        KeyCode::Down,
        KeyCode::Enter,
        KeyCode::Esc,
        KeyCode::Backspace,
        KeyCode::Char('/'),
        KeyCode::Char('?'),
        KeyCode::Char('c'),
        KeyCode::Char('j'),
        KeyCode::Char('k'),
        KeyCode::Char('z'),
        KeyCode::Char('界'),
    ];
    let mut d = dashboard(false);
    for i in 0..5000u64 {
        let r = next();
        if r % 17 == 0 {
            d.update(DashMsg::Live(Box::new(live(r % 2 == 0))));
        }
        let key = KeyEvent::new(codes[(r >> 8) as usize % codes.len()], KeyModifiers::NONE);
        if let Some(msg) = key_to_msg(&d, key)
            && msg != DashMsg::Quit
        {
            d.update(msg);
        }
        if i % 40 == 0 {
            let (w, h) = [(5, 3), (60, 20), (80, 24), (200, 60)][(i / 40) as usize % 4];
            screen(&d, w, h);
        }
    }
}
