//! The TypeScript client, end to end: generated from the calculator's
//! document (by URL and from a file, the same bytes), compiled by `tsc` with
//! the command DESIGN section 6 gives, and run with node against the
//! calculator over HTTP and WebSocket; mistakes fail to compile; the
//! OpenRPC project's example documents generate code that compiles.

#[allow(dead_code)]
#[path = "../../tests/common/calculator.rs"]
mod calculator;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Where the node tools are (tests/peers/install.sh installs them).
fn peers() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/peers")
}

/// A fresh directory for one test's files.
fn workdir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn codegen(source: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rpc-codegen"))
        .args(["typescript", source])
        .output()
        .expect("running rpc-codegen")
}

fn generate(source: &str) -> String {
    let out = codegen(source);
    assert!(
        out.status.success(),
        "rpc-codegen typescript {source} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `tsc` with DESIGN section 6's flags, over `files`, in `dir`.
fn tsc(dir: &Path, files: &[&str], emit: bool) -> Output {
    let mut command = Command::new(peers().join("node_modules/.bin/tsc"));
    command.current_dir(dir).args([
        "--strict",
        "--target",
        "es2022",
        "--module",
        "commonjs",
        "--moduleResolution",
        "node",
        "--skipLibCheck",
        "--lib",
        "es2022,dom",
    ]);
    if !emit {
        command.arg("--noEmit");
    }
    command
        .args(files)
        .output()
        .expect("running tsc (tests/peers/install.sh installs it)")
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn the_calculators_client_compiles_and_calls_it_over_http_and_websocket() {
    let served = calculator::Served::start("newline");
    let dir = workdir("ts-calculator");
    let module = generate(&served.http);

    // The same document from a file gives the same bytes.
    let document = {
        let mut body = String::new();
        let addr = served
            .http
            .trim_start_matches("http://")
            .trim_end_matches('/');
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        write!(stream, "GET / HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n\r\n").unwrap();
        stream.read_to_string(&mut body).unwrap();
        body.split_once("\r\n\r\n").unwrap().1.to_owned()
    };
    std::fs::write(dir.join("openrpc.json"), &document).unwrap();
    assert_eq!(generate(dir.join("openrpc.json").to_str().unwrap()), module);
    println!(
        "generated TypeScript for the calculator: {} bytes, {} lines",
        module.len(),
        module.lines().count()
    );

    std::fs::write(dir.join("calculator.ts"), &module).unwrap();
    let program = include_str!("typescript/program.ts");
    std::fs::write(dir.join("program.ts"), program).unwrap();
    let compiled = tsc(&dir, &["calculator.ts", "program.ts"], true);
    assert!(
        compiled.status.success(),
        "tsc failed:\n{}",
        text(&compiled)
    );

    let run = Command::new("node")
        .current_dir(&dir)
        .args([
            "--experimental-websocket",
            "program.js",
            &served.http,
            &served.ws(),
        ])
        .output()
        .expect("running node");
    assert!(run.status.success(), "the program failed:\n{}", text(&run));
    assert_eq!(
        String::from_utf8_lossy(&run.stdout).trim(),
        "ok",
        "{}",
        text(&run)
    );
}

#[test]
fn mistakes_in_a_program_are_compile_errors() {
    let served = calculator::Served::start("newline");
    let dir = workdir("ts-mistakes");
    std::fs::write(dir.join("calculator.ts"), generate(&served.http)).unwrap();
    let program = include_str!("typescript/mistakes.ts");
    std::fs::write(dir.join("mistakes.ts"), program).unwrap();
    let compiled = tsc(&dir, &["calculator.ts", "mistakes.ts"], false);
    assert!(!compiled.status.success(), "the mistakes compiled");
    let report = text(&compiled);
    // One error on each marked line, none elsewhere.
    let expected: Vec<usize> = program
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("// error:"))
        .map(|(i, _)| i + 1)
        .collect();
    let mut found: Vec<usize> = report
        .lines()
        .filter_map(|l| l.strip_prefix("mistakes.ts("))
        .filter_map(|l| l.split(',').next()?.parse().ok())
        .collect();
    found.dedup();
    assert_eq!(found, expected, "{report}");
    assert!(
        !report.contains("calculator.ts("),
        "the generated module itself has errors:\n{report}"
    );
}

#[test]
fn the_openrpc_projects_examples_generate_code_that_compiles() {
    let examples = peers().join("node_modules/@open-rpc/examples/build/service-descriptions");
    let mut documents: Vec<PathBuf> = std::fs::read_dir(&examples)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (tests/peers/install.sh installs them)",
                examples.display()
            )
        })
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    documents.sort();
    assert!(documents.len() >= 5, "{documents:?}");
    // And one with every construct that is hard to write in TypeScript.
    documents.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/documents/tricky.json"));
    let dir = workdir("ts-examples");
    let mut files = Vec::new();
    for document in &documents {
        let stem = document
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .replace('-', "_");
        let file = format!("{stem}.ts");
        std::fs::write(dir.join(&file), generate(document.to_str().unwrap())).unwrap();
        files.push(file);
    }
    let names: Vec<&str> = files.iter().map(String::as_str).collect();
    let compiled = tsc(&dir, &names, false);
    assert!(
        compiled.status.success(),
        "tsc failed on {names:?}:\n{}",
        text(&compiled)
    );
    println!("compiled: {names:?}");
}

#[test]
fn a_server_without_get_is_asked_with_rpc_discover_and_bad_sources_fail_clearly() {
    // A server that answers GET with 404 and POST with a JSON-RPC answer.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for stream in listener.incoming().take(2) {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            seen.push((request_line.clone(), String::from_utf8(body).unwrap()));
            let answer = if request_line.starts_with("GET") {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_owned()
            } else {
                let body = r#"{"jsonrpc":"2.0","id":1,"result":{"openrpc":"1.3.2","info":{"title":"t","version":"1"},"methods":[{"name":"ping","params":[],"result":{"name":"pong","schema":{"type":"string"}}}]}}"#;
                format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
            };
            stream.write_all(answer.as_bytes()).unwrap();
        }
        seen
    });
    let module = generate(&format!("http://{addr}/"));
    assert!(module.contains("ping(): Promise<string>"), "{module}");
    let seen = server.join().unwrap();
    assert!(seen[0].0.starts_with("GET / "));
    assert!(seen[1].0.starts_with("POST / ") && seen[1].1.contains("rpc.discover"));

    let missing = codegen("/nonexistent/openrpc.json");
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing).contains("cannot read /nonexistent/openrpc.json"));
    let usage = Command::new(env!("CARGO_BIN_EXE_rpc-codegen"))
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
    assert!(text(&usage).contains("usage: rpc-codegen typescript SOURCE"));
}
