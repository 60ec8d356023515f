//! The example shop that is not Rust (`examples/python-shop`, Python's standard library only),
//! as a child process, for the tests that put it behind `usher gate`.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// The example shop, as a child process on a free port; killed when dropped.
pub struct PythonShop {
    child: Child,
    pub url: String,
    log: PathBuf,
    dir: PathBuf,
    stock: u32,
}

/// The example shop's process on `listen`, and its URL once it listens.
fn spawn_shop(dir: &Path, stock: u32, listen: &str) -> (Child, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/python-shop/shop.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args(["--listen", listen, "--stock"])
        .arg(format!("concert={stock}"))
        .arg("--db")
        .arg(dir.join("shop.db"))
        .arg("--access-log")
        .arg(dir.join("access.log"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs the example shop");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("python-shop listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (child, url)
}

impl PythonShop {
    pub fn start(dir: &Path, stock: u32) -> PythonShop {
        let (child, url) = spawn_shop(dir, stock, "127.0.0.1:0");
        PythonShop {
            child,
            url,
            log: dir.join("access.log"),
            dir: dir.to_owned(),
            stock,
        }
    }

    /// The same shop (database, log, address) started again after [`kill`](Self::kill).
    pub fn restart(&mut self) {
        let listen = self.url.trim_start_matches("http://").to_owned();
        self.child = spawn_shop(&self.dir, self.stock, &listen).0;
    }

    /// Every request the shop saw, as its access log has them.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PythonShop {
    fn drop(&mut self) {
        self.kill();
    }
}
