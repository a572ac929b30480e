//! A real terminal for the end-to-end tests and benchmarks: tmux (from apt), a server per
//! caller on a socket of its own, driven with send-keys and read with capture-pane.

use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server of the caller's own (its socket in a temp dir), killed on drop.
pub struct Tmux {
    socket: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmux {
    /// Starts `command` (a shell line) in a 200×60 session named `s`.
    pub fn start(command: &str, envs: &[(&str, String)]) -> Tmux {
        Tmux::start_sized(command, envs, 200, 60)
    }

    /// Starts `command` in a `width`×`height` session named `s`.
    pub fn start_sized(command: &str, envs: &[(&str, String)], width: u16, height: u16) -> Tmux {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("tmux.sock");
        let mut c = Command::new("tmux");
        c.arg("-S")
            .arg(&socket)
            .args(["-f", "/dev/null", "new-session", "-d"])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .args(["-s", "s", command])
            .env("TERM", "xterm-256color");
        for (k, v) in envs {
            c.env(k, v);
        }
        let out = c.output().expect("run tmux (apt: tmux)");
        assert!(
            out.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmux { socket, _dir: dir }
    }

    pub fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "s"])
    }

    /// Everything the pane printed (its scrollback too), wrapped lines joined.
    pub fn history(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-J", "-S", "-", "-t", "s"])
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "s"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Waits (up to `within`) for the screen to satisfy `done`; returns that screen.
    pub fn until(&self, what: &str, within: Duration, done: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < within,
                "{what}: not seen in {within:?}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}
