//! Unix domain sockets: the socket file's life (owner-only, stale replaced,
//! live refused, removed on shutdown), peer credentials, and the duplex
//! scenarios every stream transport passes, in every framing.

#![cfg(unix)]

mod common;

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::duplex;
use common::{Demo, DemoClient, DemoService};
use rpc::tcp::{Framing, StreamOptions};
use rpc::unix::UnixServer;
use rpc::MethodTable;

/// A fresh directory for socket files.
fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rpc-unix-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Serves the demo service at `path`; the server's shutdown, to stop it.
async fn serve(path: &Path, framing: Framing) -> (rpc::Shutdown, tokio::task::JoinHandle<()>) {
    let listening = UnixServer::new(DemoService::default().into_rpc())
        .with_framing(framing)
        .bind(path)
        .await
        .unwrap();
    let shutdown = listening.shutdown().clone();
    let task = tokio::spawn(async move { listening.run().await.unwrap() });
    (shutdown, task)
}

fn connector(path: PathBuf, framing: Framing) -> impl duplex::Connect {
    move |methods: MethodTable| {
        let path = path.clone();
        async move {
            rpc::unix::connect(&path, &StreamOptions::framing(framing), methods)
                .await
                .expect("connect")
        }
    }
}

#[tokio::test]
async fn the_duplex_scenarios_pass_in_every_framing() {
    let dir = tempdir("scenarios");
    for framing in [
        Framing::Newline,
        Framing::ContentLength,
        Framing::LengthPrefix4,
    ] {
        let path = dir.join(format!("{framing}.sock"));
        let (_shutdown, _task) = serve(&path, framing).await;
        duplex::calls_both_ways(connector(path.clone(), framing)).await;
        duplex::pushes_notifications_in_order_before_the_answer(connector(path.clone(), framing))
            .await;
        duplex::thousand_concurrent_calls_all_matched(connector(path.clone(), framing)).await;
        duplex::pending_calls_fail_when_the_connection_closes(connector(path.clone(), framing))
            .await;
        duplex::null_results_are_answers(connector(path.clone(), framing)).await;
    }
}

#[tokio::test]
async fn the_socket_file_is_owner_only_and_goes_with_the_server() {
    let dir = tempdir("file");
    let path = dir.join("app.sock");
    let (shutdown, task) = serve(&path, Framing::Newline).await;
    let metadata = std::fs::symlink_metadata(&path).unwrap();
    assert!(metadata.file_type().is_socket());
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600);

    // A second server on the same live socket is refused, and leaves it be.
    let second = UnixServer::new(MethodTable::new()).bind(&path).await;
    assert_eq!(second.unwrap_err().kind(), std::io::ErrorKind::AddrInUse);
    let client = rpc::Client::new(
        rpc::unix::connect(&path, &StreamOptions::default(), MethodTable::new())
            .await
            .unwrap(),
    );
    assert_eq!(client.add(1, 2).await.unwrap(), 3);

    // Shutdown drains, then removes the file.
    shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
    assert!(!path.exists());

    // A path that is not a socket is never replaced.
    std::fs::write(&path, b"data").unwrap();
    let refused = UnixServer::new(MethodTable::new()).bind(&path).await;
    assert_eq!(
        refused.unwrap_err().kind(),
        std::io::ErrorKind::AlreadyExists
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"data");
}

#[tokio::test]
async fn a_stale_socket_file_is_replaced_and_the_mode_is_configurable() {
    let dir = tempdir("stale");
    let path = dir.join("stale.sock");
    // A socket file nobody listens on: what a killed server leaves.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let listening = UnixServer::new(DemoService::default().into_rpc())
        .with_mode(0o660)
        .bind(&path)
        .await
        .unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    let shutdown = listening.shutdown().clone();
    let task = tokio::spawn(listening.run());
    let client = rpc::Client::new(
        rpc::unix::connect(&path, &StreamOptions::default(), MethodTable::new())
            .await
            .unwrap(),
    );
    assert_eq!(client.add(2, 2).await.unwrap(), 4);
    shutdown.trigger();
    task.await.unwrap().unwrap();
}

#[rpc::rpc]
trait Whoami {
    /// The caller's uid, gid and pid, as the kernel reports them.
    async fn whoami(&self, ctx: rpc::Context) -> Option<(u32, u32, Option<i32>)>;
    /// The transport's label.
    async fn transport(&self, ctx: rpc::Context) -> Option<String>;
}

struct Kernel;

impl Whoami for Kernel {
    async fn whoami(&self, ctx: rpc::Context) -> Option<(u32, u32, Option<i32>)> {
        ctx.peer_credentials().map(|c| (c.uid, c.gid, c.pid))
    }
    async fn transport(&self, ctx: rpc::Context) -> Option<String> {
        ctx.transport().map(|t| t.as_str().to_owned())
    }
}

#[tokio::test]
async fn handlers_see_the_peers_credentials() {
    let dir = tempdir("cred");
    let path = dir.join("cred.sock");
    let listening = UnixServer::new(Kernel.into_rpc())
        .bind(&path)
        .await
        .unwrap();
    tokio::spawn(listening.run());
    let client = rpc::Client::new(
        rpc::unix::connect(&path, &StreamOptions::default(), MethodTable::new())
            .await
            .unwrap(),
    );
    // Who we are: the owner of a file we just made.
    let mine = dir.join("mine");
    std::fs::write(&mine, b"").unwrap();
    let owner = std::fs::metadata(&mine).unwrap();
    let (uid, gid, pid) = client.whoami().await.unwrap().expect("credentials");
    assert_eq!((uid, gid), (owner.uid(), owner.gid()));
    assert_eq!(pid, i32::try_from(std::process::id()).ok());
    assert_eq!(client.transport().await.unwrap().as_deref(), Some("unix"));
}

#[tokio::test]
async fn closing_a_connection_cancels_its_calls_and_the_cap_holds() {
    let dir = tempdir("cap");
    let path = dir.join("cap.sock");
    let service = DemoService::default();
    let listening = UnixServer::new(service.clone().into_rpc())
        .with_max_connections(2)
        .bind(&path)
        .await
        .unwrap();
    tokio::spawn(listening.run());
    let options = StreamOptions::default();
    let connect = || rpc::unix::connect(&path, &options, MethodTable::new());
    let first = connect().await.unwrap();
    let second = connect().await.unwrap();
    let (a, b) = (
        rpc::Client::new(first.clone()),
        rpc::Client::new(second.clone()),
    );
    assert_eq!(a.add(1, 1).await.unwrap(), 2);
    assert_eq!(b.add(1, 1).await.unwrap(), 2);
    // A third waits in the backlog until one of the two closes.
    let third = rpc::Client::new(connect().await.unwrap());
    let waiting = third.clone().with_timeout(Duration::from_millis(300));
    assert!(matches!(
        waiting.add(1, 1).await,
        Err(rpc::Error::Timeout(_))
    ));
    // A call running on a connection that closes is cancelled.
    let holding = tokio::spawn({
        let b = b.clone();
        async move { b.hold(60_000).await }
    });
    let live = |n| common::eventually(&service.live, n, Duration::from_secs(5));
    assert_eq!(live(1).await, 1);
    second.close();
    assert_eq!(live(0).await, 0);
    assert!(holding.await.unwrap().is_err());
    // Its place is the third's now.
    let third = third.with_timeout(Duration::from_secs(5));
    assert_eq!(third.add(2, 2).await.unwrap(), 4);
}
