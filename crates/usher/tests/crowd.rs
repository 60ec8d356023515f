//! A CI-sized crowd (`usher crowd`'s library) against three small shops of unequal capacity:
//! the report must show no overrun and every obedient buyer served; its τ and estimate error are
//! asserted only with margins a loaded CI machine cannot break (the figures go in the issue).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;

use common::*;
use usher_crowd::Report;
use usher_crowd::run::{Arrival, Live, Scenario, Target, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ci_sized_crowd_meets_the_goals() {
    let cluster = Cluster::start(&[ShopSpec::new(5), ShopSpec::new(10), ShopSpec::new(15)]).await;
    let target = Target {
        reception: cluster.reception_url(),
        status: format!("http://{}/status", cluster.reception.management)
            .parse()
            .unwrap(),
    };
    let scenario = Scenario {
        clients: 300,
        arrival: Arrival::Steady { per_second: 150.0 },
        item: "app".to_owned(),
        abandon_waiting: 0.1,
        abandon_admitted: 0.0,
        hold_ms: 300,
        spread_sources: true,
        deadline_ms: 90_000,
    };
    let outcome = run(&target, &scenario, Arc::new(Live::default())).await;
    let report = Report::build(
        "ci",
        serde_json::to_value(&scenario).unwrap(),
        &outcome.records,
        &outcome.samples,
        u64::try_from(outcome.duration.as_millis()).unwrap(),
    );
    eprintln!(
        "crowd: {} buyers, {} admitted in {} ms; overruns {}, tau {:?}, utilisation {:?}, \
         estimate error {:?}, errors {:?}",
        report.buyers,
        report.admitted,
        report.duration_ms,
        report.overruns,
        report.kendall_tau,
        report.utilisation_while_queued,
        report.wait_estimate_median_abs_error,
        report.errors
    );
    assert_eq!(report.buyers, 300);
    assert_eq!(
        report.overruns, 0,
        "invariant 1: no shop above its capacity"
    );
    assert_eq!(
        report.obedient_served, report.obedient,
        "every obedient buyer is served: {:?}",
        report.errors
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let queued = outcome.samples.iter().any(|s| s.queue_len > 0);
    assert!(queued, "the crowd was large enough to queue");
    let tau = report.kendall_tau.unwrap();
    assert!(tau >= 0.9, "admission order follows arrival order: {tau}");
    let html = report.to_html();
    assert!(html.contains("<svg"));
}
