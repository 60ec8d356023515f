//! The real `usher` binary's log, redirected to a pipe as an operator redirects it to a file, is
//! plain text: colour codes are for a person at a terminal.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use common::DEADLINE;

/// Guards against `usher demo > demo.log 2>&1` writing escape codes into the file.
#[test]
fn a_redirected_log_has_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let mut demo = Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(["demo", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .env("USHER_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = demo.stderr.take().unwrap();
    let (lines, logged) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    // Each shop logs as its management link comes up, just after the demo starts.
    let deadline = Instant::now() + DEADLINE;
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|l: &String| l.contains("management link up"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match logged.recv_timeout(left) {
            Ok(line) => seen.push(line.unwrap()),
            Err(e) => panic!("no log line from the demo ({e}); it logged {seen:#?}"),
        }
    }
    let _ = demo.kill();
    demo.wait().unwrap();
    for line in &seen {
        assert!(!line.contains("\x1b["), "a colour code in {line:?}");
    }
    assert!(
        seen.iter().any(|l| l.contains(" INFO ")),
        "the level is written as plain text: {seen:#?}"
    );
}
