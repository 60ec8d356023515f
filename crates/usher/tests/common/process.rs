//! The real `usher` binary as a child process, for the tests that run it as an operator would.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

pub fn usher(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(args)
        .env("USHER_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The first stdout line of `child` that starts with `prefix` (the servers print their
/// addresses once they are listening).
pub fn line_starting(child: &mut Child, prefix: &str) -> String {
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "no line starting with {prefix}"
        );
        if line.starts_with(prefix) {
            // Keep draining so the child never blocks on a full pipe.
            std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
            return line.trim().to_owned();
        }
    }
}
