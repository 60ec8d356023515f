//! `usher keys` as an operator runs it: the real binary, real files.
#![allow(clippy::unwrap_used, missing_docs)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use usher_ticket::{BindingPolicy, Epoch, Issuer, IssuerId, ItemId, KeyFile, ServerId, TicketSpec};

fn usher(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(args)
        .env_remove("USHER_KEYS")
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = usher(args);
    assert!(
        out.status.success(),
        "usher {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn generate_rotate_derive_inspect_retire() {
    let dir = tempfile::tempdir().unwrap();
    let master = dir.path().join("master.toml");
    let shop = dir.path().join("shop-a.toml");
    let m = master.to_str().unwrap();
    let s = shop.to_str().unwrap();

    ok(&["keys", "generate", "--out", m]);
    assert_eq!(mode(&master), 0o600);
    // No silent overwrite of a keyring, and the refusal names the way to do it.
    let again = usher(&["keys", "generate", "--out", m]);
    assert!(!again.status.success());
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(said.contains("--force"), "{said}");
    // A missing key file is said once.
    let missing = dir.path().join("nope.toml");
    let out = usher(&[
        "keys",
        "derive",
        "--keys",
        missing.to_str().unwrap(),
        "--server",
        "a",
        "--out",
        m,
    ]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(said.matches("No such file").count(), 1, "{said}");
    assert_eq!(said.lines().count(), 1, "{said}");

    let rotated = ok(&["keys", "rotate", "--keys", m]);
    assert!(rotated.contains("key 2 is now active"), "{rotated}");
    assert_eq!(mode(&master), 0o600);

    ok(&[
        "keys", "derive", "--keys", m, "--server", "shop-a", "--out", s,
    ]);
    assert_eq!(mode(&shop), 0o600);
    let listing: serde_json::Value =
        serde_json::from_str(&ok(&["keys", "list", "--keys", s])).unwrap();
    assert_eq!(listing["kind"], "server");
    assert_eq!(listing["server"], "shop-a");
    assert_eq!(listing["active"], 2);
    assert_eq!(listing["keys"], serde_json::json!([1, 2]));

    // The shop's file holds no master secret.
    let ring = KeyFile::load(&master).unwrap().into_master().unwrap();
    let shop_text = std::fs::read_to_string(&shop).unwrap();
    let master_text = std::fs::read_to_string(&master).unwrap();
    for line in master_text.lines().filter(|l| l.starts_with("secret")) {
        let secret = line.split('"').nth(1).unwrap();
        assert!(!shop_text.contains(secret));
    }

    // A ticket sealed by a reception holding the master keyring, read by the operator.
    let issuer = Arc::new(Issuer::fixed_for_tests(IssuerId(0xfeed)));
    let sealer = ring.ticket_sealer(&ServerId::new("shop-a").unwrap(), issuer);
    let item = ItemId::new("concert").unwrap();
    let (token, _) = sealer
        .seal_to_string(&TicketSpec {
            epoch: Epoch(9),
            not_before: SystemTime::now(),
            ttl: Duration::from_secs(30),
            binding: BindingPolicy::TICKET.bind("203.0.113.5".parse().unwrap()),
            item: &item,
        })
        .unwrap();
    for keys in [m, s] {
        let url = format!("http://127.0.0.1:8081/t/{token}/items/concert");
        let fields: serde_json::Value =
            serde_json::from_str(&ok(&["keys", "inspect", "--keys", keys, &url])).unwrap();
        assert_eq!(fields["kind"], "ticket");
        assert_eq!(fields["server"], "shop-a");
        assert_eq!(fields["item"], "concert");
        assert_eq!(fields["epoch"], 9);
        assert_eq!(fields["key_id"], 2);
        assert_eq!(fields["binding"], "203.0.113.5/32");
        // Times as an operator reads them.
        let not_after = fields["not_after"].as_str().unwrap();
        assert!(humantime::parse_rfc3339(not_after).is_ok(), "{not_after}");
    }
    // Another shop's key file cannot read it.
    let other = dir.path().join("shop-b.toml");
    let o = other.to_str().unwrap();
    ok(&[
        "keys", "derive", "--keys", m, "--server", "shop-b", "--out", o,
    ]);
    let out = usher(&["keys", "inspect", "--keys", o, &token]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong_server"));

    // A changed character is reported as what it is.
    let mut bad = token.clone().into_bytes();
    let i = bad.len() - 5;
    bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
    let bad = String::from_utf8(bad).unwrap();
    let out = usher(&["keys", "inspect", "--keys", m, &bad]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("forged"));

    // The active key cannot be retired; an old one can.
    assert!(
        !usher(&["keys", "retire", "--keys", m, "--id", "2"])
            .status
            .success()
    );
    ok(&["keys", "retire", "--keys", m, "--id", "1"]);
    let listing: serde_json::Value =
        serde_json::from_str(&ok(&["keys", "list", "--keys", m])).unwrap();
    assert_eq!(listing["keys"], serde_json::json!([2]));
}

#[test]
fn key_files_others_can_read_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let master = dir.path().join("master.toml");
    let m = master.to_str().unwrap();
    ok(&["keys", "generate", "--out", m]);
    std::fs::set_permissions(&master, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = usher(&["keys", "list", "--keys", m]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
}

#[test]
fn derive_refuses_a_bad_server_id_and_a_server_file() {
    let dir = tempfile::tempdir().unwrap();
    let master = dir.path().join("master.toml");
    let shop = dir.path().join("shop.toml");
    let m = master.to_str().unwrap();
    let s = shop.to_str().unwrap();
    ok(&["keys", "generate", "--out", m]);
    let out = usher(&[
        "keys",
        "derive",
        "--keys",
        m,
        "--server",
        "no spaces",
        "--out",
        s,
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("server id"));
    ok(&[
        "keys", "derive", "--keys", m, "--server", "shop-a", "--out", s,
    ]);
    let other = dir.path().join("other.toml");
    let out = usher(&[
        "keys",
        "derive",
        "--keys",
        s,
        "--server",
        "shop-b",
        "--out",
        other.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("master keyring"));
    assert!(!other.exists());
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        vec!["--help"],
        vec!["keys", "--help"],
        vec!["keys", "generate", "--help"],
        vec!["keys", "rotate", "--help"],
        vec!["keys", "retire", "--help"],
        vec!["keys", "derive", "--help"],
        vec!["keys", "list", "--help"],
        vec!["keys", "inspect", "--help"],
        vec!["demo", "--help"],
        vec!["reception", "--help"],
        vec!["shop", "--help"],
    ] {
        let text = ok(&args);
        assert!(text.contains("Usage:"), "{args:?}");
    }
}
