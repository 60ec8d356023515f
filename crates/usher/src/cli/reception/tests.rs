//! `usher reception`'s settings, as the file and the command line give them.

use std::time::Duration;

use super::*;

fn settings(args: &[&str], file: &str) -> Result<ReceptionSettings> {
    crate::cli::settings::parsed(args, file)
}

#[test]
fn the_file_reads_every_setting_as_before() {
    let file = r#"
        public = "127.0.0.1:1"
        management = "127.0.0.1:2"
        public_url = "https://tickets.example/"
        keys = "master.toml"
        ticket_ttl = "10s"
        shop_timeout = "2s"
        tie_margin = 0.1
        reservation = "per-ticket"
        queue_state = "queue.json"
        queue_join_limit = 7
        waiting_per_client = 9
        queue_hold = "1s"
        expected_session = "90s"
        opens_at = "2026-12-24T18:00:00Z"
        pre_queue_from = "2026-12-24T17:00:00Z"
        pre_queue_order = "arrival"
        policy = "p2c"
        trusted_proxies = ["10.0.0.1"]

        [expected_session_for]
        concert = "2m"
        poster = "20s"

        [[shops]]
        id = "shop-a"
        url = "http://127.0.0.1:8081/"
    "#;
    let s = settings(&[], file).unwrap();
    let shops: Vec<_> = s.shops.iter().flatten().map(|s| s.0.clone()).collect();
    assert_eq!(shops[0].url, "http://127.0.0.1:8081");
    let config = s.config(shops, s.public_url.clone().unwrap());
    assert_eq!(config.public_url, "https://tickets.example");
    assert_eq!(config.ticket_ttl, Duration::from_secs(10));
    assert_eq!(config.shop_timeout, Duration::from_secs(2));
    assert_eq!(config.tie_margin, 0.1);
    assert_eq!(config.reservation, Reservation::PerTicket);
    assert_eq!(config.policy, PolicyKind::PowerOfTwo);
    assert_eq!(config.queue.join_limit, 7);
    assert_eq!(config.queue.waiting_per_client, 9);
    assert_eq!(config.queue.hold, Duration::from_secs(1));
    assert_eq!(config.queue.expected_session, Duration::from_secs(90));
    assert_eq!(
        config.queue.expected_sessions,
        [
            ("concert".to_owned(), Duration::from_secs(120)),
            ("poster".to_owned(), Duration::from_secs(20)),
        ]
        .into()
    );
    assert_eq!(config.queue.state_file, Some(PathBuf::from("queue.json")));
    let opening = config.queue.opening.unwrap();
    let at = |s| std::time::UNIX_EPOCH + Duration::from_secs(s);
    assert_eq!(opening.opens_at, at(1_798_135_200));
    assert_eq!(opening.pre_queue_from, Some(at(1_798_131_600)));
    assert_eq!(opening.order, PreQueueOrder::Arrival);
    assert_eq!(config.trusted_proxies.len(), 1);
    assert_eq!(config.validate(), Ok(()));
}

/// The opening's companions are checked when the reception starts, not by clap, so that
/// `opens_at` in the file and `--pre-queue-order` on the command line go together.
#[test]
fn pre_queue_settings_go_with_an_opening_from_the_file_or_the_flags() {
    let file = "opens_at = \"2026-12-24T18:00:00Z\"\n";
    let s = settings(&["--pre-queue-order", "arrival"], file).unwrap();
    assert_eq!(s.pre_queue_order, Some(PreQueueOrder::Arrival));
    assert!(s.opens_at.is_some());
}

#[test]
fn an_items_expected_session_comes_from_the_flags_over_the_file() {
    let file = "[expected_session_for]\nconcert = \"2m\"\n";
    let flags = ["--expected-session-for", "poster=20s"];
    let s = settings(&flags, file).unwrap();
    let config = s.config(Vec::new(), "http://127.0.0.1:1".to_owned());
    let expected = [("poster".to_owned(), Duration::from_secs(20))].into();
    assert_eq!(config.queue.expected_sessions, expected);
    assert!(settings(&["--expected-session-for", "poster"], "").is_err());
}

#[test]
fn management_tls_takes_a_certificate_and_its_key_together() {
    let both = [
        "--management-tls-cert",
        "c.pem",
        "--management-tls-key",
        "k.pem",
    ];
    let s = settings(&both, "").unwrap();
    assert_eq!(s.management_tls_cert, Some(PathBuf::from("c.pem")));
    assert_eq!(s.management_tls_key, Some(PathBuf::from("k.pem")));
    assert!(
        settings(&both[..2], "").is_err(),
        "a certificate without its key"
    );
    // From the file, too.
    let file = "management_tls_cert = \"c.pem\"\nmanagement_tls_key = \"k.pem\"\n";
    let s = settings(&[], file).unwrap();
    assert_eq!(s.management_tls_key, Some(PathBuf::from("k.pem")));
}

#[test]
fn flags_win_over_the_file_and_defaults_fill_the_rest() {
    let file =
        "ticket_ttl = \"10s\"\nqueue_hold = \"1s\"\n[[shops]]\nid = \"a\"\nurl = \"http://a\"\n";
    let args = [
        "--ticket-ttl",
        "20s",
        "--shop",
        "b=http://b/",
        "--shop",
        "c=http://c",
    ];
    let s = settings(&args, file).unwrap();
    let shops: Vec<_> = s
        .shops
        .iter()
        .flatten()
        .map(|s| s.0.id.to_string())
        .collect();
    assert_eq!(shops, ["b", "c"], "--shop replaces the file's list");
    let config = s.config(Vec::new(), String::new());
    assert_eq!(config.ticket_ttl, Duration::from_secs(20));
    assert_eq!(config.queue.hold, Duration::from_secs(1));
    let defaults = ReceptionConfig::new(Vec::new(), "");
    assert_eq!(config.shop_timeout, defaults.shop_timeout);
    assert_eq!(config.policy, defaults.policy);
    assert_eq!(config.queue.join_limit, defaults.queue.join_limit);
    assert_eq!(
        config.queue.waiting_per_client,
        defaults.queue.waiting_per_client
    );
}

#[test]
fn the_waiting_cap_reads_from_its_flag_over_the_file_and_is_checked() {
    let s = settings(
        &["--waiting-per-client", "0"],
        "waiting_per_client = 3
",
    )
    .unwrap();
    assert_eq!(
        s.config(Vec::new(), String::new()).queue.waiting_per_client,
        0
    );
    let s = settings(
        &[],
        "waiting_per_client = 2000000
",
    )
    .unwrap();
    let refused = s.config(Vec::new(), String::new()).validate().unwrap_err();
    assert_eq!(
        refused.to_string(),
        "waiting_per_client must be at most 1000000 (0 for no cap)"
    );
    assert!(settings(&["--waiting-per-client", "-1"], "").is_err());
}

#[test]
fn connection_settings_parse_and_reach_the_public_listener() {
    let file = r#"
        max_connections = 100
        connections_per_client = 8
        request_timeout = "5s"
        connection_idle_timeout = "3s"
        max_header_size = 32768
        proxy_protocol = true
        trusted_proxies = ["10.0.0.1"]
    "#;
    let args = [
        "--max-connections",
        "200",
        "--connection-lifetime",
        "1m",
        "--cap-loopback",
    ];
    let s = settings(&args, file).unwrap();
    let listener = s.connections.listener();
    let limits = listener.limits;
    assert_eq!(limits.connections, 200, "the flag wins over the file");
    assert_eq!(limits.max_per_address, 8);
    assert_eq!(limits.stall_timeout, Duration::from_secs(5));
    assert_eq!(limits.idle_timeout, Duration::from_secs(3));
    assert_eq!(limits.max_lifetime, Duration::from_secs(60));
    assert_eq!(limits.max_head, 32 * 1024);
    assert!(limits.cap_loopback);
    assert!(listener.proxy_protocol);
    assert_eq!(limits.validate(), Ok(()));
    // The flag turns the file's setting off; nothing given keeps today's defaults.
    let off = settings(&["--proxy-protocol=false"], file).unwrap();
    assert!(!off.connections.listener().proxy_protocol);
    let defaults = settings(&[], "").unwrap().connections.listener();
    let today = usher::serve::Limits::default();
    assert!(!defaults.proxy_protocol);
    assert!(!defaults.limits.cap_loopback);
    assert_eq!(defaults.limits.connections, today.connections);
    assert_eq!(defaults.limits.max_per_address, today.max_per_address);
    assert_eq!(defaults.limits.stall_timeout, today.stall_timeout);
    assert_eq!(defaults.limits.idle_timeout, today.idle_timeout);
    assert_eq!(defaults.limits.max_lifetime, today.max_lifetime);
    assert_eq!(defaults.limits.max_head, today.max_head);
    // Out of range is refused when the server starts, by the same check the library runs.
    let zero = settings(&["--max-connections", "0"], "").unwrap();
    assert!(zero.connections.listener().limits.validate().is_err());
    let short = settings(&[], "request_timeout = \"1ms\"").unwrap();
    assert!(short.connections.listener().limits.validate().is_err());
    // Unknown keys are still refused beside the flattened ones.
    assert!(settings(&[], "max_connection = 1").is_err());
    assert!(settings(&[], "max-connections = 1").is_err());
    assert!(settings(&["--request-timeout", "soon"], "").is_err());
    assert!(settings(&[], "proxy_protocol = \"yes\"").is_err());
}

#[test]
fn unknown_keys_and_bad_values_are_refused() {
    assert!(settings(&[], "ticket-ttl = \"10s\"").is_err());
    assert!(settings(&[], "ticket_ttl = \"soon\"").is_err());
    assert!(settings(&[], "policy = \"fastest\"").is_err());
    assert!(settings(&[], "[[shops]]\nid = \"a b\"\nurl = \"http://a\"").is_err());
    assert!(settings(&["--shop", "shop-a"], "").is_err());
    assert!(settings(&["--queue-hold", "soon"], "").is_err());
}
