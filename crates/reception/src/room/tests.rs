//! What every [`LineStore`] must do, written against the seam: each test takes a store, so a
//! store shared through another server runs the same tests by adding itself to [`stores`].

use std::time::{Duration, Instant};

use usher_queue::{ClaimError, Estimator, EstimatorConfig, LineConfig, Place};
use usher_ticket::IssuerId;

use super::memory::MemoryStore;
use super::store::{Claim, Learnt, LineStore};

/// A fresh line in every kind of store, each with the name it is reported under, and the
/// folder its state lives in (kept alive for the test).
fn stores(now: Instant) -> Vec<(&'static str, Box<dyn LineStore>, tempfile::TempDir)> {
    let in_memory = tempfile::tempdir().unwrap();
    let on_disk = tempfile::tempdir().unwrap();
    let file = on_disk.path().join("queue.json");
    vec![
        (
            "memory",
            Box::new(
                MemoryStore::open(LineConfig::default(), None, IssuerId(1), now, None).unwrap(),
            ),
            in_memory,
        ),
        (
            "memory + state file",
            Box::new(
                MemoryStore::open(LineConfig::default(), Some(file), IssuerId(1), now, None)
                    .unwrap(),
            ),
            on_disk,
        ),
    ]
}

#[test]
fn places_are_handed_out_in_arrival_order_and_the_first_is_told_the_line_formed() {
    let now = Instant::now();
    for (name, store, _dir) in stores(now) {
        assert!(!store.is_gated(now), "{name}");
        let joined: Vec<_> = (0..3).map(|_| store.join()).collect();
        assert_eq!(
            joined,
            [(Place(0), true), (Place(1), false), (Place(2), false)],
            "{name}"
        );
        assert!(store.is_gated(now), "{name}");
        assert_eq!(store.view(now).waiting, 3, "{name}");
        assert_eq!(store.view(now).counters.issued, 3, "{name}");
    }
}

#[test]
fn no_place_is_claimed_before_it_is_eligible_and_each_is_claimed_once() {
    let now = Instant::now();
    for (name, store, _dir) in stores(now) {
        for _ in 0..3 {
            store.join();
        }
        assert_eq!(
            store.claim(Place(0), now),
            Claim::Refused(ClaimError::NotYet),
            "{name}"
        );
        let advanced = store.advance(now, 2);
        assert!((1..=2).contains(&advanced.moved), "{name}: {advanced:?}");
        assert!(advanced.gated, "{name}: one still waits");
        // The room forgets places waiting per network as this head passes them.
        assert_eq!(advanced.head, advanced.moved, "{name}");
        // A place made eligible with the one ahead of it lets that one go first, briefly.
        if advanced.moved == 2 {
            assert_eq!(store.claim(Place(1), now), Claim::Behind, "{name}");
        }
        assert_eq!(store.claim(Place(0), now), Claim::Claimed, "{name}");
        assert_eq!(
            store.claim(Place(0), now),
            Claim::Refused(ClaimError::AlreadyClaimed),
            "{name}"
        );
        assert_eq!(
            store.claim(Place(2), now),
            Claim::Refused(ClaimError::NotYet),
            "{name}"
        );
        assert_eq!(
            store.claim(Place(99), now),
            Claim::Refused(ClaimError::Unknown),
            "{name}: never handed out"
        );
    }
}

#[test]
fn a_place_handed_back_waits_at_the_front_and_claims_again() {
    let now = Instant::now();
    for (name, store, _dir) in stores(now) {
        store.join();
        store.advance(now, 1);
        assert_eq!(store.claim(Place(0), now), Claim::Claimed, "{name}");
        store.hand_back(Place(0), now);
        assert_eq!(store.view(now).front, 1, "{name}");
        let later = now + Duration::from_secs(1);
        assert_eq!(store.claim(Place(0), later), Claim::Claimed, "{name}");
        assert_eq!(store.view(later).front, 0, "{name}");
    }
}

#[test]
fn the_front_keeps_a_place_past_the_lines_grace_but_not_past_its_own() {
    let now = Instant::now();
    let grace = LineConfig::default().grace;
    for (name, store, _dir) in stores(now) {
        store.join();
        store.advance(now, 1);
        assert_eq!(store.claim(Place(0), now), Claim::Claimed, "{name}");
        // Sent back just before the line would give its time's places up.
        let sent_back = now + grace - Duration::from_secs(1);
        store.hand_back(Place(0), sent_back);
        let past_the_line = now + grace + Duration::from_secs(1);
        store.advance(past_the_line, 0);
        assert_eq!(
            store.claim(Place(0), past_the_line),
            Claim::Claimed,
            "{name}"
        );
        store.hand_back(Place(0), past_the_line);
        let past_its_own = past_the_line + grace + Duration::from_secs(1);
        store.advance(past_its_own, 0);
        assert_eq!(
            store.claim(Place(0), past_its_own),
            Claim::Refused(ClaimError::GivenUp),
            "{name}"
        );
    }
}

#[test]
fn standing_counts_the_places_ahead_and_the_front_comes_back_first() {
    let now = Instant::now();
    let estimator = Estimator::new(EstimatorConfig::default());
    for (name, store, _dir) in stores(now) {
        for _ in 0..5 {
            store.join();
        }
        store.advance(now, 1);
        let standings: Vec<_> = (0..5)
            .map(|p| store.standing(Place(p), now, &estimator))
            .collect();
        let ahead: Vec<_> = standings.iter().map(|s| s.ahead).collect();
        assert_eq!(ahead, [0, 1, 2, 3, 4], "{name}");
        assert!(
            standings
                .windows(2)
                .all(|w| w[0].retry_after <= w[1].retry_after),
            "{name}: {standings:?}"
        );
    }
}

#[test]
fn a_newcomer_passes_only_an_empty_line_with_places_to_spare() {
    let now = Instant::now();
    for (name, store, _dir) in stores(now) {
        assert!(store.admits_newcomer(now, 1), "{name}");
        assert!(!store.admits_newcomer(now, 0), "{name}");
        store.join();
        assert!(!store.admits_newcomer(now, 10), "{name}: someone waits");
    }
}

#[tokio::test]
async fn a_place_is_durable_before_it_is_answered_and_a_reopened_store_keeps_the_line() {
    let now = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("queue.json");
    let store = MemoryStore::open(
        LineConfig::default(),
        Some(file.clone()),
        IssuerId(1),
        now,
        None,
    )
    .unwrap();
    let epoch = store.epoch();
    let (place, _) = store.join();
    assert!(!store.is_saved(place), "not on disk until saved");
    store.save().await.unwrap();
    assert!(store.is_saved(place));
    tokio::time::timeout(Duration::from_secs(5), store.saved(place))
        .await
        .unwrap();
    // The file is locked while its store lives: a second reception is refused.
    assert!(
        MemoryStore::open(
            LineConfig::default(),
            Some(file.clone()),
            IssuerId(2),
            now,
            None
        )
        .is_err()
    );
    // Shutting down: a last save, then the file is let go.
    let (tx, shutdown) = tokio::sync::watch::channel(false);
    drop(tx);
    store.persist(shutdown).await;
    let reopened =
        MemoryStore::open(LineConfig::default(), Some(file), IssuerId(2), now, None).unwrap();
    assert_eq!(reopened.epoch(), epoch);
    assert_eq!(reopened.view(now).counters.issued, 1);
    assert_eq!(reopened.honoured(), [IssuerId(1), IssuerId(2)]);
    assert_eq!(reopened.join().0, Place(1), "no number is handed out twice");
}

/// Issue 16: the session lengths learnt from the shops (all items together and per item) are
/// kept with the line, so the next run's first estimates start from them.
#[tokio::test]
async fn the_session_lengths_learnt_are_kept_with_the_line() {
    let now = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("queue.json");
    let open = |issuer| {
        MemoryStore::open(LineConfig::default(), Some(file.clone()), issuer, now, None).unwrap()
    };
    let store = open(IssuerId(1));
    assert_eq!(store.sessions(), Learnt::default());
    let mut learnt = Learnt::default();
    learnt.learn_all(Duration::from_secs(40));
    let concert = usher_ticket::ItemId::new("concert").unwrap();
    learnt.learn_item(&concert, Duration::from_secs(90));
    store.learn_sessions(&learnt);
    let (tx, shutdown) = tokio::sync::watch::channel(false);
    drop(tx);
    store.persist(shutdown).await;
    drop(store);
    assert_eq!(open(IssuerId(2)).sessions(), learnt);
}

/// Guards against a restart telling pre-queue clients other places than they were told: the
/// draw covers only places already on disk, so a restart before the draw itself is on disk
/// draws the very same pre-queue again, while a join not yet durable at the opening falls
/// behind it.
#[tokio::test]
async fn a_restart_before_the_draw_is_on_disk_draws_the_same_pre_queue() {
    let now = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("queue.json");
    let opening = crate::config::OpeningSettings::new(std::time::SystemTime::now());
    let open = |issuer| {
        MemoryStore::open(
            LineConfig::default(),
            Some(file.clone()),
            issuer,
            now,
            Some(&opening),
        )
        .unwrap()
    };
    let store = open(IssuerId(1));
    let pre = store.pre_queue().unwrap();
    assert_eq!((pre.first, pre.end), (0, None));
    for _ in 0..3 {
        store.join();
    }
    store.save().await.unwrap();
    let (in_flight, _) = store.join();
    assert!(!store.is_saved(in_flight));
    let on_disk = std::fs::read(&file).unwrap();
    let drawn = store.draw().unwrap();
    assert_eq!(drawn.end, Some(3), "only the durable places are drawn");
    assert!(!drawn.holds(in_flight), "the join in flight falls behind");
    assert_eq!(store.draw(), Some(drawn), "drawn once");
    // A `kill -9` before the draw reached the disk.
    drop(store);
    std::fs::write(&file, on_disk).unwrap();
    let reopened = open(IssuerId(2));
    assert_eq!(reopened.pre_queue().unwrap().end, None);
    assert_eq!(
        reopened.draw(),
        Some(drawn),
        "the same seed and the same size"
    );
}

/// Guards against a restart with other settings drawing a pre-queue again: a drawn pre-queue
/// keeps its draw without an opening in the settings, and refuses a different opening; one
/// waiting for its draw may have its opening moved, but not dropped.
#[tokio::test]
async fn the_state_file_keeps_the_opening_its_pre_queue_was_drawn_for() {
    use crate::config::OpeningSettings;
    let now = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("queue.json");
    let at = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_798_135_200);
    let opening = OpeningSettings::new(at);
    let open = |opening: Option<&OpeningSettings>| {
        MemoryStore::open(
            LineConfig::default(),
            Some(file.clone()),
            IssuerId(1),
            now,
            opening,
        )
    };
    let store = open(Some(&opening)).unwrap();
    store.join();
    store.save().await.unwrap();
    drop(store);
    // Waiting for its draw: the opening moves with the settings, and may not be dropped.
    let moved = OpeningSettings::new(at + Duration::from_secs(60));
    let store = open(Some(&moved)).unwrap();
    assert_eq!(store.pre_queue().unwrap().opens_at, moved.opens_at);
    drop(store);
    let refused = open(None).unwrap_err().to_string();
    assert!(refused.contains("waiting for its opening"), "{refused}");
    // Drawn: kept as drawn without an opening in the settings; another opening is refused.
    let store = open(Some(&moved)).unwrap();
    let drawn = store.draw().unwrap();
    store.save().await.unwrap();
    drop(store);
    let store = open(None).unwrap();
    assert_eq!(store.pre_queue(), Some(drawn));
    drop(store);
    let refused = open(Some(&opening)).unwrap_err().to_string();
    assert!(
        refused.contains("a new sale needs a new queue state file"),
        "{refused}"
    );
}
