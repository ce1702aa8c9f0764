//! A short soak (the benchmark binary's `--soak`, 30 000 calls): every call
//! ends in a right answer or a clear error while connections are cut, half
//! messages arrive, slow readers never read and the server is killed and
//! started again; the server's heap comes back to near where it started.

use std::process::Command;

#[test]
fn a_short_soak_loses_nothing() {
    let output = Command::new(env!("CARGO_BIN_EXE_rpc-benches"))
        .args(["--soak", "30000"])
        .output()
        .expect("run the soak");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains("Nothing lost."), "{report}");
    assert!(
        report.contains("| **lost** (timed out, or a wrong result) | 0 |"),
        "{report}"
    );
    // Faults were injected: connections cut, and the restart's errors.
    let line = |name: &str| {
        report
            .lines()
            .find(|l| l.starts_with(&format!("| {name}")))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        !line("failed with a clear error").ends_with("| 0 |"),
        "{report}"
    );
    // The heap in use after the last connection closed: within 4 MB of the start.
    let heap = line("second server: heap in use");
    let figures: Vec<f64> = heap
        .split('|')
        .nth(2)
        .unwrap_or_default()
        .split('/')
        .filter_map(|f| f.trim().trim_end_matches(" MB").parse().ok())
        .collect();
    assert_eq!(figures.len(), 3, "{heap}");
    assert!(figures[2] < figures[0] + 4.0, "{heap}");
}
