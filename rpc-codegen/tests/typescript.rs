//! The TypeScript client, end to end: generated from the calculator's
//! document (by URL and from a file, the same bytes), compiled by `tsc` with
//! the command DESIGN section 6 gives, under TypeScript 7 and TypeScript 5
//! both, and run with node against the calculator over HTTP and WebSocket
//! (integers beyond 2^53 exactly, a bearer token, a reconnection that
//! re-issues a subscription, topic subscriptions that resume without loss
//! over server-sent events and WebSocket; an event stream read however its
//! bytes are split); mistakes fail to compile; the
//! OpenRPC project's example documents generate code that compiles; so do
//! hostile documents (names TypeScript, JavaScript or the runtime reserve,
//! a method `then`, a namespace `__proto__`), whose clients stay working
//! objects; duplicates are an error; huge documents take linear time.

#[allow(dead_code)]
#[path = "../../tests/common/calculator.rs"]
mod calculator;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Where the node tools are (tests/peers/install.sh installs them).
fn peers() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/peers")
}

/// A fresh directory for one test's files. Its `package.json` makes them
/// CommonJS, whatever a `package.json` above says (`--module nodenext`
/// takes the format from the nearest one).
fn workdir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("package.json"), "{\"type\": \"commonjs\"}\n").unwrap();
    dir
}

/// One of `tests/documents`.
fn document(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/documents")
        .join(name)
        .to_str()
        .unwrap()
        .to_owned()
}

fn codegen(source: &str) -> Output {
    codegen_with(source, &[])
}

fn codegen_with(source: &str, flags: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rpc-codegen"))
        .arg("typescript")
        .args(flags)
        .arg(source)
        .output()
        .expect("running rpc-codegen")
}

fn generate(source: &str) -> String {
    generate_with(source, &[])
}

/// The module with 64-bit and larger integers as `bigint`.
fn generate_bigint(source: &str) -> String {
    generate_with(source, &["--bigint"])
}

fn generate_with(source: &str, flags: &[&str]) -> String {
    let out = codegen_with(source, flags);
    assert!(
        out.status.success(),
        "rpc-codegen typescript {source} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A TypeScript compiler every generated module must satisfy.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Tsc {
    /// TypeScript 7, what `npm install typescript` brings: a native
    /// compiler, which the package's `bin/tsc` (a node script) runs.
    V7,
    /// TypeScript 5 (`typescript5`, an npm alias of `typescript@5`).
    V5,
}

/// Both compilers, the newest first.
const COMPILERS: [Tsc; 2] = [Tsc::V7, Tsc::V5];

impl Tsc {
    /// Its `tsc` script in tests/peers/node_modules.
    fn script(self) -> PathBuf {
        let package = match self {
            Tsc::V7 => "typescript",
            Tsc::V5 => "typescript5",
        };
        peers().join("node_modules").join(package).join("bin/tsc")
    }

    /// A directory name for what it emits.
    fn name(self) -> &'static str {
        match self {
            Tsc::V7 => "ts7",
            Tsc::V5 => "ts5",
        }
    }
}

/// `tsc` with DESIGN section 6's flags, over `files`, in `dir`;
/// JavaScript to `out_dir`, if given.
fn tsc(compiler: Tsc, dir: &Path, files: &[&str], out_dir: Option<&str>) -> Output {
    tsc_for(compiler, "es2022", dir, files, out_dir)
}

/// `tsc` with DESIGN section 6's flags but `target`, over `files`, in
/// `dir`; JavaScript to `out_dir`, if given.
fn tsc_for(
    compiler: Tsc,
    target: &str,
    dir: &Path,
    files: &[&str],
    out_dir: Option<&str>,
) -> Output {
    let mut command = Command::new("node");
    command.current_dir(dir).arg(compiler.script()).args([
        "--strict",
        "--target",
        target,
        "--module",
        "nodenext",
        "--moduleResolution",
        "nodenext",
        "--skipLibCheck",
        "--lib",
        "es2022,dom",
    ]);
    match out_dir {
        Some(out_dir) => command.args(["--outDir", out_dir]),
        None => command.arg("--noEmit"),
    };
    command
        .args(files)
        .output()
        .expect("running node with tsc (tests/peers/install.sh installs it)")
}

/// Compiles `files` in `dir` with each compiler into `dir/ts7` and
/// `dir/ts5` (each with the CommonJS `package.json`), and runs `node ARGS`
/// in each; every run must print `ok` last.
fn compile_and_run(dir: &Path, files: &[&str], args: &[&str]) {
    for compiler in COMPILERS {
        let out = compiler.name();
        let compiled = tsc(compiler, dir, files, Some(out));
        assert!(
            compiled.status.success(),
            "tsc ({compiler:?}) failed:\n{}",
            text(&compiled)
        );
        std::fs::copy(dir.join("package.json"), dir.join(out).join("package.json")).unwrap();
        let run = Command::new("node")
            .current_dir(dir.join(out))
            .args(args)
            .output()
            .expect("running node");
        assert!(
            run.status.success(),
            "the program ({compiler:?}) failed:\n{}",
            text(&run)
        );
        assert_eq!(
            String::from_utf8_lossy(&run.stdout).trim(),
            "ok",
            "{compiler:?}: {}",
            text(&run)
        );
        println!(
            "{compiler:?}: {}",
            String::from_utf8_lossy(&run.stderr).trim()
        );
    }
}

#[test]
fn typescript_7_and_typescript_5_are_both_there_to_compile_with() {
    for (compiler, version) in [(Tsc::V7, "Version 7."), (Tsc::V5, "Version 5.")] {
        let out = Command::new("node")
            .arg(compiler.script())
            .arg("--version")
            .output()
            .expect("running node");
        assert!(
            text(&out).starts_with(version),
            "{compiler:?}: {} (tests/peers/install.sh installs it)",
            text(&out)
        );
    }
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
    compile_and_run(
        &dir,
        &["calculator.ts", "program.ts"],
        &[
            "--experimental-websocket",
            "program.js",
            &served.http,
            &served.ws(),
        ],
    );
}

#[test]
fn integers_beyond_2_to_the_53_go_to_the_calculator_and_back_exactly() {
    let served = calculator::Served::start("newline");
    let dir = workdir("ts-integers");
    let module = generate_bigint(&served.http);
    // With --bigint, i64 and u64 are `bigint`; parameters take a `number` too.
    assert!(
        module.contains(
            "subtract(minuend: bigint | number, subtrahend: bigint | number): Promise<bigint>"
        ),
        "{module}"
    );
    assert!(module.contains("  count: bigint;"), "{module}");
    assert!(module.contains("divide(a: number, b: number): Promise<number>"));
    std::fs::write(dir.join("calculator.ts"), &module).unwrap();
    std::fs::write(
        dir.join("integers.ts"),
        include_str!("typescript/integers.ts"),
    )
    .unwrap();
    compile_and_run(
        &dir,
        &["calculator.ts", "integers.ts"],
        &[
            "--experimental-websocket",
            "integers.js",
            &served.http,
            &served.ws(),
        ],
    );
}

#[test]
fn without_bigint_integers_are_numbers_and_one_beyond_2_to_the_53_is_an_error_not_rounded() {
    let served = calculator::Served::start("newline");
    let dir = workdir("ts-inexact");
    let module = generate(&served.http);
    // DESIGN section 6: integers are `number`.
    assert!(
        module.contains("subtract(minuend: number, subtrahend: number): Promise<number>"),
        "{module}"
    );
    std::fs::write(dir.join("calculator.ts"), &module).unwrap();
    std::fs::write(
        dir.join("inexact.ts"),
        include_str!("typescript/inexact.ts"),
    )
    .unwrap();
    compile_and_run(
        &dir,
        &["calculator.ts", "inexact.ts"],
        &[
            "--experimental-websocket",
            "inexact.js",
            &served.http,
            &served.ws(),
        ],
    );
}

#[test]
fn the_runtime_reads_big_integers_exactly_only_where_typed_bigint_and_sends_them_bare() {
    // The calculator returns no u64 a test can choose (u64::MAX would be a
    // sleep of 584 million years): crafted answers from a mock server.
    let dir = workdir("ts-wide");
    let module = generate_bigint(&document("wide-integers.json"));
    std::fs::write(dir.join("wide_integers.ts"), &module).unwrap();
    std::fs::write(dir.join("wide.ts"), include_str!("typescript/wide.ts")).unwrap();
    compile_and_run(&dir, &["wide_integers.ts", "wide.ts"], &["wide.js"]);
}

#[test]
fn a_bearer_token_reaches_the_server_as_a_websocket_subprotocol_and_an_http_header() {
    let token = "s3cret-t0ken.x_y~z";
    let mut command = Command::new(calculator::binary());
    command
        .args(["serve", "--http", "127.0.0.1:0", "--tcp", "127.0.0.1:0"])
        .args(["--auth-token", token])
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::inherit());
    let served = calculator::Served::spawn(command);
    let dir = workdir("ts-auth");
    std::fs::write(dir.join("calculator.ts"), generate(&served.http)).unwrap();
    std::fs::write(dir.join("auth.ts"), include_str!("typescript/auth.ts")).unwrap();
    compile_and_run(
        &dir,
        &["calculator.ts", "auth.ts"],
        &[
            "--experimental-websocket",
            "auth.js",
            &served.http,
            &served.ws(),
            token,
        ],
    );
}

#[test]
fn a_websocket_client_reconnects_and_resubscribes_when_the_server_restarts() {
    let dir = workdir("ts-reconnect");
    {
        let served = calculator::Served::start("newline");
        std::fs::write(dir.join("calculator.ts"), generate(&served.http)).unwrap();
    }
    std::fs::write(
        dir.join("reconnect.ts"),
        include_str!("typescript/reconnect.ts"),
    )
    .unwrap();
    let files = ["calculator.ts", "reconnect.ts"];
    for compiler in COMPILERS {
        let out = compiler.name();
        let compiled = tsc(compiler, &dir, &files, Some(out));
        assert!(
            compiled.status.success(),
            "tsc ({compiler:?}) failed:\n{}",
            text(&compiled)
        );
        std::fs::copy(dir.join("package.json"), dir.join(out).join("package.json")).unwrap();

        let mut served = calculator::Served::start("newline");
        let http = served.http_addr();
        let mut node = Command::new("node")
            .current_dir(dir.join(out))
            .args(["--experimental-websocket", "reconnect.js", &served.ws()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("running node");
        let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
        let ready = lines.next().and_then(Result::ok);
        assert_eq!(
            ready.as_deref(),
            Some("ready"),
            "{compiler:?}: {}",
            stderr_of(&mut node)
        );
        // Killed (no goodbye), and down long enough for attempts to fail.
        served.kill();
        std::thread::sleep(Duration::from_millis(400));
        let _restarted = calculator::Served::start_at(&http, "127.0.0.1:0", "newline");
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        let status = node.wait().unwrap();
        let stderr = stderr_of(&mut node);
        assert!(
            status.success() && rest == ["ok"],
            "{compiler:?}: {rest:?}\n{stderr}"
        );
        println!("{compiler:?}: {}", stderr.trim());
    }
}

#[test]
fn topic_subscriptions_resume_after_a_cut_connection_without_loss_or_repeat_over_sse_and_websocket()
{
    // The script cuts its own proxy between the client and the calculator,
    // which stays up: a restarted calculator would have lost what it retained.
    let served = calculator::Served::start("newline");
    let dir = workdir("ts-topics");
    let module = generate(&served.http);
    // `since` is where the runtime puts the last event id to resume from.
    assert!(
        module.contains(r#""unsubscribe_topic", 1)"#) && module.contains(r#""unsubscribe_ticks")"#),
        "{module}"
    );
    std::fs::write(dir.join("calculator.ts"), &module).unwrap();
    std::fs::write(dir.join("topics.ts"), include_str!("typescript/topics.ts")).unwrap();
    compile_and_run(
        &dir,
        &["calculator.ts", "topics.ts"],
        &[
            "--experimental-websocket",
            "topics.js",
            &served.http,
            &served.ws(),
        ],
    );
}

#[test]
fn an_event_stream_is_read_the_same_however_its_bytes_are_split_and_resumes_with_last_event_id() {
    // A mock `fetch`: the stream's bytes cut at every boundary, which TCP
    // would not do on demand.
    let served = calculator::Served::start("newline");
    let dir = workdir("ts-events");
    std::fs::write(dir.join("calculator.ts"), generate(&served.http)).unwrap();
    std::fs::write(dir.join("events.ts"), include_str!("typescript/events.ts")).unwrap();
    compile_and_run(&dir, &["calculator.ts", "events.ts"], &["events.js"]);
}

/// What a finished child wrote on stderr.
fn stderr_of(child: &mut std::process::Child) -> String {
    let mut text = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut text);
    }
    text
}

#[test]
fn mistakes_in_a_program_are_compile_errors() {
    let served = calculator::Served::start("newline");
    let dir = workdir("ts-mistakes");
    std::fs::write(dir.join("calculator.ts"), generate(&served.http)).unwrap();
    let program = include_str!("typescript/mistakes.ts");
    std::fs::write(dir.join("mistakes.ts"), program).unwrap();
    for compiler in COMPILERS {
        let compiled = tsc(compiler, &dir, &["calculator.ts", "mistakes.ts"], None);
        assert!(
            !compiled.status.success(),
            "{compiler:?}: the mistakes compiled"
        );
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
        assert_eq!(found, expected, "{compiler:?}: {report}");
        assert!(
            !report.contains("calculator.ts("),
            "{compiler:?}: the generated module itself has errors:\n{report}"
        );
    }
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
    for compiler in COMPILERS {
        let compiled = tsc(compiler, &dir, &names, None);
        assert!(
            compiled.status.success(),
            "tsc ({compiler:?}) failed on {names:?}:\n{}",
            text(&compiled)
        );
    }
    println!("compiled with TypeScript 7 and 5: {names:?}");
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
    assert!(text(&usage).contains("usage: rpc-codegen typescript [--bigint] SOURCE"));
}

/// The hostile documents of `tests/documents` that generate a module.
const HOSTILE: &[&str] = &[
    "reserved-schemas.json",
    "then.json",
    "proto.json",
    "runtime-names.json",
    "dotted-names.json",
];

fn method(name: &str, params: Vec<serde_json::Value>) -> serde_json::Value {
    serde_json::json!({
        "name": name,
        "params": params,
        "result": { "name": "result", "schema": { "type": "integer" } }
    })
}

fn param(name: &str) -> serde_json::Value {
    serde_json::json!({ "name": name, "required": true, "schema": { "type": "integer" } })
}

/// Huge hostile documents, written into `dir`: what each is, its file, and
/// whether it generates a module (else it is an error naming `expected`).
/// Before, the dots overflowed the stack, the duplicates took over a minute
/// (the growth was cubic), and the last three made modules of 37 MB (from
/// 1 KB: each level twice) and 114 MB (the descriptor at each use).
fn huge_documents(dir: &Path) -> Vec<(&'static str, PathBuf, Result<(), String>)> {
    let n = 4000;
    // Names that become one identifier: `a` and `b` around one character
    // that is not ASCII, a different one each.
    let alike = |i: u32, around: (&str, &str)| {
        let c = char::from_u32(0x4e00 + i).unwrap();
        format!("{}{c}{}", around.0, around.1)
    };
    let documents = [
        (
            "a method name of 10 000 dots",
            vec![method(&format!("a{}", ".a".repeat(10_000)), vec![])],
            serde_json::json!({}),
            Ok(()),
        ),
        (
            "4 000 methods of one name",
            vec![method("same", vec![]); n],
            serde_json::json!({}),
            Err(format!("method `same` {n} times")),
        ),
        (
            "4 000 parameters of one name",
            vec![method("m", vec![param("p"); n])],
            serde_json::json!({}),
            Err(format!("parameter `p` of method `m` {n} times")),
        ),
        (
            "4 000 parameters that become one identifier",
            vec![method(
                "m",
                (0..n as u32)
                    .map(|i| param(&alike(i, ("a", "b"))))
                    .collect(),
            )],
            serde_json::json!({}),
            Ok(()),
        ),
        (
            "4 000 schemas that become one type name",
            vec![method("m", vec![])],
            serde_json::json!({ "schemas": serde_json::Value::Object(
                (0..n as u32)
                    .map(|i| (alike(i, ("x", "")), serde_json::json!({ "type": "string" })))
                    .collect(),
            ) }),
            Ok(()),
        ),
        (
            "a type 20 deep, each level of two kinds alike",
            vec![serde_json::json!({
                "name": "m",
                "params": [{ "name": "x", "schema": (0..20).fold(
                    serde_json::json!({ "type": "string" }),
                    |items, _| serde_json::json!({ "type": ["array", "array"], "items": items }),
                ) }],
            })],
            serde_json::json!({}),
            Ok(()),
        ),
        (
            "2 000 methods of one long content descriptor",
            (0..n / 2)
                .map(|i| {
                    let shared = serde_json::json!({ "$ref": "#/components/contentDescriptors/Big" });
                    serde_json::json!({ "name": format!("m{i}"), "params": [shared], "result": shared })
                })
                .collect(),
            serde_json::json!({ "contentDescriptors": { "Big": {
                "name": "big",
                "required": true,
                "schema": {
                    "type": "object",
                    "properties": serde_json::Value::Object(
                        (0..500)
                            .map(|i| (format!("field{i}"), serde_json::json!({ "type": "string" })))
                            .collect(),
                    ),
                },
            } } }),
            Ok(()),
        ),
        (
            "a method then whose every new name is taken",
            std::iter::once(method("then", vec![]))
                .chain(std::iter::once(method("then_", vec![])))
                .chain((2..n).map(|i| method(&format!("then_{i}"), vec![])))
                .collect(),
            serde_json::json!({}),
            Ok(()),
        ),
    ];
    documents
        .into_iter()
        .enumerate()
        .map(|(i, (what, methods, components, expected))| {
            let document = serde_json::json!({
                "openrpc": "1.3.2",
                "info": { "title": what, "version": "1.0.0" },
                "methods": methods,
                "components": components
            });
            let path = dir.join(format!("huge{i}.json"));
            std::fs::write(&path, document.to_string()).unwrap();
            (what, path, expected)
        })
        .collect()
}

#[test]
fn hostile_documents_generate_code_that_compiles_under_strict() {
    let dir = workdir("ts-hostile");
    let mut files = Vec::new();
    for name in HOSTILE {
        let file = name.replace(".json", ".ts").replace('-', "_");
        std::fs::write(dir.join(&file), generate(&document(name))).unwrap();
        files.push(file);
    }
    for (i, (_, path, expected)) in huge_documents(&dir).into_iter().enumerate() {
        if expected.is_ok() {
            let file = format!("huge{i}.ts");
            std::fs::write(dir.join(&file), generate(path.to_str().unwrap())).unwrap();
            files.push(file);
        }
    }
    // And the document of wide integers: its runtime at es2017 too.
    std::fs::write(
        dir.join("wide_integers.ts"),
        generate(&document("wide-integers.json")),
    )
    .unwrap();
    files.push("wide_integers.ts".to_owned());
    let names: Vec<&str> = files.iter().map(String::as_str).collect();
    for compiler in COMPILERS {
        for target in ["es2022", "es2017"] {
            let compiled = tsc_for(compiler, target, &dir, &names, None);
            assert!(
                compiled.status.success(),
                "tsc ({compiler:?}) --target {target} failed on {names:?}:\n{}",
                text(&compiled)
            );
        }
    }
    println!("compiled under --strict (TypeScript 7 and 5, es2022 and es2017): {names:?}");
}

#[test]
fn hostile_names_leave_the_client_a_working_object() {
    let dir = workdir("ts-hostile-run");
    for name in ["then.json", "proto.json", "runtime-names.json"] {
        let file = name.replace(".json", ".ts").replace('-', "_");
        std::fs::write(dir.join(file), generate(&document(name))).unwrap();
    }
    std::fs::write(
        dir.join("hostile.ts"),
        include_str!("typescript/hostile.ts"),
    )
    .unwrap();
    let files = ["then.ts", "proto.ts", "runtime_names.ts", "hostile.ts"];
    // es2017: class fields are assignments there, where `__proto__` would
    // replace the prototype.
    for (compiler, target) in COMPILERS
        .into_iter()
        .flat_map(|c| [(c, "es2022"), (c, "es2017")])
    {
        let out = format!("{}-{target}", compiler.name());
        let compiled = tsc_for(compiler, target, &dir, &files, Some(&out));
        assert!(
            compiled.status.success(),
            "tsc ({compiler:?}) --target {target} failed:\n{}",
            text(&compiled)
        );
        std::fs::copy(
            dir.join("package.json"),
            dir.join(&out).join("package.json"),
        )
        .unwrap();
        let run = Command::new("node")
            .current_dir(dir.join(&out))
            .arg("hostile.js")
            .output()
            .expect("running node");
        assert!(
            run.status.success(),
            "the program ({compiler:?}, {target}) failed:\n{}",
            text(&run)
        );
        assert_eq!(
            String::from_utf8_lossy(&run.stdout).trim(),
            "ok",
            "{}",
            text(&run)
        );
    }
}

#[test]
fn duplicate_methods_and_parameters_are_an_error_naming_them() {
    let out = codegen(&document("duplicates.json"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(out.stdout.is_empty());
    let message = text(&out);
    assert!(
        message.contains("duplicate names")
            && message.contains("method `same` 3 times")
            && message.contains("parameter `p` of method `other` 2 times")
            && !message.contains("`q`"),
        "{message}"
    );
}

#[test]
fn huge_hostile_documents_take_linear_time() {
    let dir = workdir("ts-huge");
    for (what, path, expected) in huge_documents(&dir) {
        let size = std::fs::metadata(&path).unwrap().len();
        // The best of three: other tests (tsc, node) share the machine.
        let (out, took) = (0..3)
            .map(|_| {
                let started = Instant::now();
                let out = codegen(path.to_str().unwrap());
                (out, started.elapsed())
            })
            .min_by_key(|(_, took)| *took)
            .unwrap();
        println!(
            "{what}: {size} bytes of document, {} bytes of module, {took:?} (exit {:?})",
            out.stdout.len(),
            out.status.code()
        );
        match expected {
            Ok(()) => {
                assert!(out.status.success(), "{what}: {}", text(&out));
                // Linear in size too: no name grows with the clashes, no
                // type is written once per use or per level.
                assert!(out.stdout.len() < 8 * size as usize + 64 * 1024, "{what}");
            }
            Err(message) => {
                assert_eq!(out.status.code(), Some(1), "{what}: {}", text(&out));
                assert!(text(&out).contains(&message), "{what}: {}", text(&out));
            }
        }
        // Well under a second in a debug build; 2 s for a slow machine.
        assert!(took < Duration::from_secs(2), "{what} took {took:?}");
    }
}

#[test]
fn the_exported_error_codes_are_rpc_cores() {
    // `pub const NAME: i64 = CODE;` in rpc-core's `code` module, and
    // `NAME: CODE,` in the runtime's `ErrorCode`.
    let core = include_str!("../../rpc-core/src/protocol/error.rs");
    let mut expected: Vec<(String, i64)> = core
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub const "))
        .filter_map(|l| {
            let (name, value) = l.split_once(": i64 = ")?;
            Some((name.to_owned(), value.trim_end_matches(';').parse().ok()?))
        })
        .collect();
    let runtime = include_str!("../src/runtime.ts");
    let block = runtime
        .split_once("export const ErrorCode = {")
        .and_then(|(_, rest)| rest.split_once("} as const;"))
        .map(|(block, _)| block)
        .expect("the runtime exports ErrorCode");
    let mut exported: Vec<(String, i64)> = block
        .lines()
        .filter_map(|l| {
            let (name, value) = l.trim().split_once(": ")?;
            Some((name.to_owned(), value.trim_end_matches(',').parse().ok()?))
        })
        .collect();
    expected.sort();
    exported.sort();
    assert!(expected.len() >= 13, "{expected:?}");
    assert_eq!(exported, expected);
}

#[test]
fn cargo_install_gives_a_binary_that_works_outside_the_repository() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    // What a published crate holds: everything `include_str!` reads is in it.
    let listed = Command::new(&cargo)
        .current_dir(crate_dir)
        .args(["package", "--list", "--allow-dirty", "-p", "rpc-codegen"])
        .output()
        .expect("running cargo package");
    assert!(listed.status.success(), "{}", text(&listed));
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    for source in std::fs::read_dir(crate_dir.join("src")).unwrap() {
        let source = source.unwrap().path();
        let code = std::fs::read_to_string(&source).unwrap_or_default();
        for included in code.split("include_str!(\"").skip(1) {
            let included = included.split('"').next().unwrap();
            assert!(
                !included.contains(".."),
                "{}: {included} is outside the crate",
                source.display()
            );
            let path = format!("src/{included}");
            assert!(
                listed.lines().any(|l| l == path),
                "{path} is not packaged:\n{listed}"
            );
        }
    }

    // Installed (a debug build, in this target directory: quick once built),
    // then run from a directory outside the repository.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .to_owned();
    let root = workdir("installed");
    let started = Instant::now();
    let install = Command::new(&cargo)
        .args(["install", "--debug", "--path"])
        .arg(crate_dir)
        .arg("--root")
        .arg(&root)
        .arg("--target-dir")
        .arg(&target)
        .output()
        .expect("running cargo install");
    assert!(install.status.success(), "{}", text(&install));
    println!(
        "cargo install --debug --path rpc-codegen: {:?}",
        started.elapsed()
    );
    let elsewhere =
        std::env::temp_dir().join(format!("rpc-codegen-elsewhere-{}", std::process::id()));
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::copy(document("then.json"), elsewhere.join("openrpc.json")).unwrap();
    let run = Command::new(
        root.join("bin")
            .join(format!("rpc-codegen{}", std::env::consts::EXE_SUFFIX)),
    )
    .current_dir(&elsewhere)
    .args(["typescript", "openrpc.json"])
    .output()
    .expect("running the installed rpc-codegen");
    assert!(run.status.success(), "{}", text(&run));
    let module = String::from_utf8_lossy(&run.stdout);
    assert!(module.contains("export class Client") && module.contains("export const ErrorCode"));
    assert_eq!(module, generate(&document("then.json")));
    let _ = std::fs::remove_dir_all(&elsewhere);
}
