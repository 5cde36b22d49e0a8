//! Twins under chaos, inside `make test`: two replicas of each participant as real processes
//! (`make up REPLICAS=2`, in small), through the scenarios that need them, a kill of one service's
//! replica while its twin carries on, and a broker outage with every group of two members
//! rebalancing after it; each followed by the audit of every invariant.

mod processes;

use chaos::scenario::{self, Scenario};
use processes::{assert_clean, settings, start_system};
use testkit::TestEnv;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_of_each_service_keep_every_invariant_through_kills_and_restarts() {
    let (mut system, target) = start_system(TestEnv::start_durable().await, &[], 2).await;
    assert_eq!(target.endpoints.orders.len(), 2);

    let payment = events::participants::find("payment").unwrap();
    let scenarios = [
        Scenario::KillOneReplica,
        Scenario::RollingRestart,
        Scenario::Kill(payment),
        Scenario::BrokerOutage,
    ];
    let mut outcomes = Vec::new();
    for scenario in scenarios {
        outcomes.push(
            scenario::run(scenario, &target, &mut system, &settings())
                .await
                .unwrap(),
        );
    }
    chaos::report::print_table(&outcomes);
    outcomes.iter().for_each(assert_clean);
}
