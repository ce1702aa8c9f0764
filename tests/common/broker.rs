//! Real brokers (`redis-server`, `nats-server` with JetStream), started on
//! free loopback ports for the backplane tests, stopped when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

/// A broker process, stopped when dropped. A NATS server keeps JetStream's
/// store in a directory of its own, kept across [`stop`](Broker::stop) and
/// [`start`](Broker::start) (a restart finds its streams again) and removed
/// when the broker is dropped.
pub(crate) struct Broker {
    pub kind: &'static str,
    pub port: u16,
    child: Option<Child>,
    store: Option<PathBuf>,
}

/// A program from the system's packages (Debian puts nats-server in /usr/sbin).
pub(crate) fn program(name: &str) -> String {
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin"] {
        let path = format!("{dir}/{name}");
        if std::path::Path::new(&path).exists() {
            return path;
        }
    }
    name.to_owned()
}

impl Broker {
    /// A broker of `kind` (`redis` or `nats`), not started yet.
    pub(crate) fn new(kind: &'static str) -> Broker {
        Broker {
            kind,
            port: free_port(),
            child: None,
            store: None,
        }
    }

    /// `redis://127.0.0.1:PORT` or `nats://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.kind, self.port)
    }

    /// Starts the server and waits until it takes connections.
    pub(crate) fn start(&mut self) {
        let port = self.port.to_string();
        let mut command = match self.kind {
            "redis" => {
                let mut c = Command::new(program("redis-server"));
                c.args([
                    "--port",
                    &port,
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ]);
                c
            }
            _ => {
                let store = self.store.get_or_insert_with(|| {
                    let dir = std::env::temp_dir().join(format!(
                        "rpc-test-nats-{}-{}",
                        std::process::id(),
                        self.port
                    ));
                    std::fs::create_dir_all(&dir).expect("creating the JetStream store");
                    dir
                });
                let mut c = Command::new(program("nats-server"));
                c.args(["-a", "127.0.0.1", "-p", &port, "-js", "-sd"])
                    .arg(&*store);
                c
            }
        };
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "starting the {} broker (tests/peers/install.sh installs it): {e}",
                    self.kind
                )
            });
        self.child = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the {} broker did not start",
                self.kind
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (its clients see the connection drop).
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
        if let Some(store) = self.store.take() {
            let _ = std::fs::remove_dir_all(store);
        }
    }
}
