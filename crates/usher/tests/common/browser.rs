//! Chromium driven from a test: a script under `tests/browser/` (playwright-core) run with
//! node, its stdout read a line at a time, screenshots kept, and the tests taking turns.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader, Lines};
use tokio::process::{ChildStdout, Command};

pub const STEP: Duration = Duration::from_secs(90);

pub fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Starts `node tests/browser/{script}` with `args`, its stdout read line by line.
pub fn spawn_script(
    script: &str,
    args: &[&std::ffi::OsStr],
) -> (tokio::process::Child, Lines<BufReader<ChildStdout>>) {
    let mut child = Command::new("node")
        .arg(browser_dir().join(script))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

pub async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>, prefix: &str) -> String {
    let line = tokio::time::timeout(STEP, lines.next_line())
        .await
        .unwrap_or_else(|_| panic!("no {prefix} from the browser within {STEP:?}"))
        .unwrap()
        .unwrap_or_else(|| panic!("the browser script ended before {prefix}"));
    assert!(line.starts_with(prefix), "expected {prefix}, got {line:?}");
    line
}

pub fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Browser tests take turns: with three Chromiums at once on two cores, the waiting page's
/// no-script step stalled past its deadline about one run in three (never when alone).
pub static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub fn assert_browser_ready() {
    assert!(
        Path::new("/usr/bin/chromium").exists()
            && browser_dir().join("node_modules/playwright-core").exists(),
        "the browser test needs Debian's chromium and playwright-core: run scripts/test, which \
         installs both"
    );
}
