//! The explorer page in a real browser: headless Chromium (the system's
//! `/usr/bin/chromium`, or `$CHROMIUM`) driven by playwright-core
//! (tests/peers/explorer.js) against the calculator. It fills and submits
//! `subtract`, `greet` with and without its optional parameter, `stats`,
//! `area` and a failing `divide`, then sends changed forms as one batch,
//! and checks what the page shows. The screenshot is left at
//! `target/tmp/explorer.png` for a person to look at.

mod common;

use std::process::Command;

use serde_json::{json, Value};

/// What the page showed for one call: the outcome and the JSON text.
fn shown(report: &Value, key: &str) -> (String, Value) {
    let entry = &report[key];
    let outcome = entry["outcome"].as_str().unwrap_or_default().to_owned();
    let text = entry["text"].as_str().unwrap_or_default();
    let value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("{key}: the page shows {text:?}, not JSON: {e}"));
    (outcome, value)
}

#[tokio::test]
async fn the_explorer_calls_methods_from_a_real_browser() {
    let served = tokio::task::spawn_blocking(|| common::calculator::Served::start("newline"))
        .await
        .unwrap();

    // A browser's Accept gets the page; curl's gets the document.
    let client = reqwest::Client::new();
    let page = client
        .get(&served.http)
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<form data-method="stats""#));
    assert!(
        !html.contains("src=\"http"),
        "the page loads nothing from elsewhere"
    );
    let json = client
        .get(&served.http)
        .header("accept", "*/*")
        .send()
        .await
        .unwrap();
    assert_eq!(json.headers()["content-type"], "application/json");

    let screenshot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("explorer.png");
    let _ = std::fs::remove_file(&screenshot);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/explorer.js");
    let (url, path) = (served.http.clone(), screenshot.clone());
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .arg(&url)
            .arg(&path)
            .output()
            .expect("running node (tests/peers/install.sh installs what the tests need)")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "the browser script failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();

    // One field per parameter, named after it.
    assert_eq!(
        report["fields"]["subtract"],
        json!(["minuend", "subtrahend"])
    );
    assert_eq!(report["fields"]["greet"], json!(["name", "title"]));
    assert_eq!(report["fields"]["stats"], json!(["values"]));
    assert_eq!(report["fields"]["area"], json!(["shape"]));

    assert_eq!(shown(&report, "subtract"), ("result".into(), json!(19)));
    assert_eq!(
        shown(&report, "greet"),
        ("result".into(), json!("Hello, Ann!"))
    );
    assert_eq!(
        shown(&report, "greetTitled"),
        ("result".into(), json!("Hello, Dr Ann!"))
    );
    assert_eq!(
        shown(&report, "stats"),
        (
            "result".into(),
            // As a browser writes numbers: 1, not 1.0.
            json!({"count": 3, "mean": 6.5 / 3.0, "min": 1, "max": 3.5})
        )
    );
    assert_eq!(shown(&report, "area"), ("result".into(), json!(6)));
    assert_eq!(
        shown(&report, "divide"),
        (
            "error".into(),
            json!({"code": -32000, "message": "Division by zero"})
        )
    );
    // The batch: every filled form at once, each answer in its own form.
    assert_eq!(
        shown(&report, "batchSubtract"),
        ("result".into(), json!(77))
    );
    assert_eq!(
        shown(&report, "batchStats"),
        (
            "result".into(),
            json!({"count": 0, "mean": null, "min": null, "max": null})
        )
    );
    assert_eq!(report["elsewhere"], json!([]), "requests to other hosts");
    assert_eq!(report["pageErrors"], json!([]), "script errors");

    let png = std::fs::read(&screenshot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000);
    println!("explorer screenshot: {}", screenshot.display());
}
