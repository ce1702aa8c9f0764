//! The calculator example as the end-to-end tests run it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The calculator example binary, built by `cargo test` (which builds the
/// examples); built here only when it is missing or older than this test.
pub(crate) fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| example("calculator"))
}

/// An example's binary, built when missing or older than this test.
pub(crate) fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/interop-HASH -> target/<profile>/examples/NAME
    let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|profile| profile.join("examples").join(&file))
        .unwrap_or_else(|| root().join("target/debug/examples").join(&file));
    let modified = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    let stale = match (modified(&bin), modified(&exe)) {
        (None, _) => true,
        (Some(b), Some(t)) => b < t,
        (Some(_), None) => false,
    };
    if stale {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(root())
            .args(["build", "-p", "rpc", "--example", name]);
        let profile = bin
            .parent()
            .and_then(Path::parent)
            .and_then(Path::file_name);
        if profile.is_some_and(|p| p == "release") {
            cmd.arg("--release");
        }
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("running `cargo build --example {name}`: {e}"));
        assert!(
            out.status.success(),
            "`cargo build --example {name}` failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        bin.exists(),
        "the {name} example is not at {}",
        bin.display()
    );
    bin
}

pub(crate) struct Served {
    pub child: Child,
    /// `http://ADDR/`
    pub http: String,
    /// `ADDR` of the TCP listener.
    pub tcp: String,
}

impl Served {
    /// Starts `calculator serve --http 127.0.0.1:0 --tcp 127.0.0.1:0 --framing FRAMING`.
    pub(crate) fn start(framing: &str) -> Served {
        let mut command = Command::new(binary());
        command
            .args(["serve", "--http", "127.0.0.1:0", "--tcp", "127.0.0.1:0"])
            .args(["--framing", framing])
            .env("RUST_LOG", "warn")
            .stderr(Stdio::inherit());
        Served::spawn(command)
    }

    /// Starts `calculator serve` on the given addresses (`HOST:PORT`), as a
    /// restart of an instance on the same ports does; tries for a few
    /// seconds while the ports are still being released.
    pub(crate) fn start_at(http: &str, tcp: &str, framing: &str) -> Served {
        let started = Instant::now();
        loop {
            let mut command = Command::new(binary());
            command
                .args(["serve", "--http", http, "--tcp", tcp, "--framing", framing])
                .env("RUST_LOG", "error")
                .stderr(Stdio::null());
            let attempt =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Served::spawn(command)));
            match attempt {
                Ok(served) => return served,
                Err(_) if started.elapsed() < Duration::from_secs(10) => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    }

    /// `HOST:PORT` of the HTTP listener.
    pub(crate) fn http_addr(&self) -> String {
        self.http
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned()
    }

    /// Kills the process at once (SIGKILL): no drain, connections just drop.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts a command that runs `calculator serve` and prints its addresses.
    pub(crate) fn spawn(mut command: Command) -> Served {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting the calculator example");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let started = Instant::now();
        let mut next = |what: &str| {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("the calculator printed no {what} line"))
                .expect("reading the calculator's stdout");
            assert!(started.elapsed() < Duration::from_secs(30));
            line
        };
        let http = next("http");
        let tcp = next("tcp");
        assert!(http.starts_with("http://") && http.ends_with('/'), "{http}");
        let tcp = tcp
            .strip_prefix("tcp://")
            .unwrap_or_else(|| panic!("expected tcp://ADDR, got {tcp}"))
            .to_owned();
        Served { child, http, tcp }
    }

    /// `ws://ADDR/` on the HTTP listener.
    pub(crate) fn ws(&self) -> String {
        self.http.replacen("http://", "ws://", 1)
    }

    /// Sends SIGTERM, as systemd, Docker and Kubernetes do.
    pub(crate) fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success());
    }

    /// Waits for the process to exit, for at most `within`.
    pub(crate) fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
