//! What one reception keeps of the line for itself, beside the shared store.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use usher_queue::{Arrivals, Estimator};
use usher_ticket::ItemId;

use super::limit::JoinLimiter;
use super::store::Learnt;
use super::store::LineStore;
use super::wait::{LiveShop, SESSION_LEARNT, ShopRoom};
use super::waiting::WaitingCap;
use crate::config::QueueSettings;

/// What this reception keeps of the line for itself (locked before the store, never after).
#[derive(Debug)]
pub(super) struct Local {
    pub(super) estimator: Estimator,
    pub(super) limiter: JoinLimiter,
    /// Places each network holds waiting, forgotten as [`head`](Self::head) passes them.
    pub(super) waiting: WaitingCap,
    /// The line's head at the last tick (it only moves forward, so an old one over-counts).
    pub(super) head: u64,
    /// Claimed places whose admission is in flight (a handful: one per admission under way).
    pub(super) admitting: Vec<u64>,
    /// Newcomers let past a gated line whose admission is in flight.
    pub(super) newcomers: u64,
    /// Places free at the last tick, so held clients are woken only when more are.
    pub(super) last_free: u64,
    /// The session lengths learnt, as the store keeps them.
    pub(super) learnt: Learnt,
    /// How fast clients join, before a scheduled opening (the pre-queue's growth).
    pub(super) arrivals: Arrivals,
}

impl Local {
    /// Nothing measured yet; the line's head and the session lengths learnt as `store` keeps
    /// them.
    pub(super) fn new(settings: &QueueSettings, store: &dyn LineStore, now: Instant) -> Local {
        Local {
            estimator: Estimator::new(settings.estimator.clone()),
            limiter: JoinLimiter::new(settings.join_limit, settings.join_window),
            waiting: WaitingCap::new(settings.waiting_per_client),
            head: store.view(now).counters.head,
            admitting: Vec::new(),
            newcomers: 0,
            last_free: 0,
            learnt: store.sessions(),
            arrivals: Arrivals::default(),
        }
    }

    /// Places about to be taken by admissions in flight, which no report shows yet.
    pub(super) fn in_flight(&self) -> u64 {
        self.admitting.len() as u64 + self.newcomers
    }

    /// The estimate's prior from the shops at a tick (Sa56 before a rate is measured): by
    /// Little's law, each live shop's places over its session length, summed. A shop's session
    /// length is what it measures (all items together); before it has measured one, the mean
    /// over the items it carries of each item's length: learnt from the shops' reports (kept
    /// with the line, so a restart begins from it), else configured for that item, else
    /// learnt for all items together, else the configured default.
    pub(super) fn learn_prior(
        &mut self,
        shops: &ShopRoom,
        store: &dyn LineStore,
        settings: &QueueSettings,
    ) {
        let prior = prior(shops, &mut self.learnt, settings);
        if prior.learnt {
            store.learn_sessions(&self.learnt);
        }
        self.estimator.set_prior(prior.rate, prior.measured);
    }
}

/// The prior rate at a tick, and what came of it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Prior {
    /// Places freeing per second, by Little's law; `None` without a live shop.
    rate: Option<f64>,
    /// Some shop measured its session length (the prior then blends in more slowly).
    measured: bool,
    /// Something new was learnt (to keep with the line).
    learnt: bool,
}

/// See [`Local::learn_prior`]: learns what the shops measured into `learnt`, then sums each
/// live shop's places over its session length.
fn prior(shops: &ShopRoom, learnt: &mut Learnt, settings: &QueueSettings) -> Prior {
    let mut changed = false;
    let mut all = Mean::default();
    // Each item's length over the shops that measured it, weighted by their places, so that
    // shops measuring one item differently do not overwrite each other tick after tick.
    let mut by_item: BTreeMap<ItemId, Mean> = BTreeMap::new();
    for shop in &shops.live {
        if let Some(session) = learnable(shop.session) {
            all.add(shop.places, session);
        }
        for (item, session) in &shop.items {
            if let Some(session) = learnable(*session) {
                by_item.entry(*item).or_default().add(shop.places, session);
            }
        }
    }
    for (item, mean) in by_item {
        if let Some(session) = mean.get() {
            changed |= learnt.learn_item(&item, session);
        }
    }
    let measured = all.get();
    if let Some(session) = measured {
        changed |= learnt.learn_all(session);
    }
    let rate: f64 = shops
        .live
        .iter()
        .map(|shop| {
            let session =
                learnable(shop.session).unwrap_or_else(|| expected_session(shop, learnt, settings));
            shop.places as f64 / session.as_secs_f64()
        })
        .sum();
    Prior {
        rate: (rate > 0.0).then_some(rate),
        measured: measured.is_some(),
        learnt: changed,
    }
}

/// A mean of session lengths weighted by places.
#[derive(Debug, Default, Clone, Copy)]
struct Mean {
    places: u64,
    weighted: f64,
}

impl Mean {
    fn add(&mut self, places: u64, session: Duration) {
        self.places += places;
        self.weighted += places as f64 * session.as_secs_f64();
    }

    /// `None` before any shop with places was added.
    fn get(self) -> Option<Duration> {
        (self.places > 0).then(|| Duration::from_secs_f64(self.weighted / self.places as f64))
    }
}

/// A session length a shop measured, if it is one to learn from.
fn learnable(session: Option<Duration>) -> Option<Duration> {
    session.filter(|s| SESSION_LEARNT.contains(s))
}

/// How long a session at `shop` is expected to hold its place before the shop has measured it:
/// the mean over its items (see [`Local::learn_prior`]).
fn expected_session(shop: &LiveShop, learnt: &Learnt, settings: &QueueSettings) -> Duration {
    let fallback = learnt.all().unwrap_or(settings.expected_session);
    if shop.items.is_empty() {
        return fallback;
    }
    let total: f64 = shop
        .items
        .iter()
        .map(|(item, _)| {
            learnt
                .item(item.as_str())
                .or_else(|| settings.expected_sessions.get(item.as_str()).copied())
                .unwrap_or(fallback)
                .as_secs_f64()
        })
        .sum();
    Duration::from_secs_f64(total / shop.items.len() as f64).max(*SESSION_LEARNT.start())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop(places: u64, session: Option<u64>, items: &[(&str, Option<u64>)]) -> LiveShop {
        let ms = |ms: Option<u64>| ms.map(Duration::from_millis);
        LiveShop {
            places,
            session: ms(session),
            items: items
                .iter()
                .map(|&(item, session)| (ItemId::new(item).unwrap(), ms(session)))
                .collect(),
        }
    }

    fn room(live: Vec<LiveShop>) -> ShopRoom {
        ShopRoom { free: 0, live }
    }

    fn settings(default_s: u64, items: &[(&str, u64)]) -> QueueSettings {
        QueueSettings {
            expected_session: Duration::from_secs(default_s),
            expected_sessions: items
                .iter()
                .map(|&(item, s)| (item.to_owned(), Duration::from_secs(s)))
                .collect(),
            ..QueueSettings::default()
        }
    }

    fn rate(prior: Prior) -> f64 {
        prior.rate.unwrap()
    }

    #[test]
    fn the_prior_is_each_shops_places_over_its_items_expected_session() {
        let settings = settings(60, &[("concert", 120), ("poster", 30)]);
        let mut learnt = Learnt::default();
        // Shop a: 60 places, concert only (120 s): 0.5/s. Shop b: 30 places, concert and
        // poster (mean 75 s): 0.4/s. Shop c: 10 places of an item configured nowhere (60 s).
        let shops = room(vec![
            shop(60, None, &[("concert", None)]),
            shop(30, None, &[("concert", None), ("poster", None)]),
            shop(10, None, &[("mug", None)]),
        ]);
        let prior = prior(&shops, &mut learnt, &settings);
        assert!(
            (rate(prior) - (0.5 + 0.4 + 10.0 / 60.0)).abs() < 1e-9,
            "{prior:?}"
        );
        assert!(!prior.measured && !prior.learnt);
        assert_eq!(learnt, Learnt::default());
    }

    #[test]
    fn a_session_learnt_for_an_item_replaces_the_configured_one_and_is_kept() {
        let settings = settings(60, &[("concert", 120)]);
        let mut learnt = Learnt::default();
        // Shop a measured its concert sessions at 40 s; shop b has not measured anything.
        let shops = room(vec![
            shop(40, Some(40_000), &[("concert", Some(40_000))]),
            shop(20, None, &[("concert", None)]),
        ]);
        let first = prior(&shops, &mut learnt, &settings);
        assert!(first.measured && first.learnt);
        assert!((rate(first) - (1.0 + 0.5)).abs() < 1e-9, "{first:?}");
        assert_eq!(learnt.item("concert"), Some(Duration::from_secs(40)));
        assert_eq!(learnt.all(), Some(Duration::from_secs(40)));
        // Nothing new: nothing to keep.
        assert!(!prior(&shops, &mut learnt, &settings).learnt);
        // After a restart of every shop, the learnt length stands for the configured one.
        let restarted = room(vec![shop(20, None, &[("concert", None)])]);
        let after = prior(&restarted, &mut learnt, &settings);
        assert!(!after.measured);
        assert!((rate(after) - 0.5).abs() < 1e-9, "{after:?}");
    }

    /// Guards the state file: two shops measuring one item differently are averaged by their
    /// places (not the last one's, changing every tick). (Names that are no item id never
    /// get here: `registry::tests::only_item_ids_of_a_report_reach_the_prior`.)
    #[test]
    fn an_items_length_is_the_shops_mean() {
        let settings = settings(60, &[]);
        let mut learnt = Learnt::default();
        let shops = room(vec![
            shop(30, None, &[("concert", Some(10_000))]),
            shop(10, None, &[("concert", Some(50_000))]),
        ]);
        assert!(prior(&shops, &mut learnt, &settings).learnt);
        assert_eq!(learnt.item("concert"), Some(Duration::from_secs(20)));
        assert_eq!(learnt.by_item_ms.len(), 1, "{learnt:?}");
        assert!(
            !prior(&shops, &mut learnt, &settings).learnt,
            "the same again"
        );
    }

    #[test]
    fn without_items_or_shops_the_prior_falls_back_and_never_divides_by_nothing() {
        let settings = settings(60, &[]);
        let mut learnt = Learnt::default();
        assert_eq!(prior(&room(Vec::new()), &mut learnt, &settings).rate, None);
        let bare = room(vec![shop(6, None, &[])]);
        assert!((rate(prior(&bare, &mut learnt, &settings)) - 0.1).abs() < 1e-9);
        learnt.learn_all(Duration::from_secs(3));
        assert!((rate(prior(&bare, &mut learnt, &settings)) - 2.0).abs() < 1e-9);
        let empty = room(vec![shop(0, None, &[("concert", None)])]);
        assert_eq!(prior(&empty, &mut learnt, &settings).rate, None);
        // A measurement out of bounds is not learnt (a zero-length session, say).
        let zero = room(vec![shop(6, Some(0), &[("concert", Some(0))])]);
        let prior = prior(&zero, &mut learnt, &settings);
        assert!(!prior.measured && !prior.learnt);
    }
}
