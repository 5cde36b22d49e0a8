//! The chaos suite behind `make chaos` (SPEC section 7): failure scenarios under load, injected
//! through the Toxiproxy HTTP API (so the same code drives real Toxiproxy under docker compose)
//! or by signals, each followed by an audit of every invariant over every order it placed.
//!
//! - `audit`: the invariant auditor (`chaos audit` on its own);
//! - `scenario`: the scenarios and what each proves;
//! - `control`: killing and restarting processes (native stack or compose);
//! - `report`: the final table and `target/chaos/report.json`;
//! - `target`: where the system under test answers.

pub mod audit;
pub mod control;
pub mod report;
pub mod scenario;
pub mod target;

#[cfg(test)]
mod tests {
    /// `make up REPLICAS=N` stops at one replica per partition.
    #[test]
    fn the_stack_allows_as_many_replicas_as_a_topic_has_partitions() {
        assert_eq!(stack::MAX_REPLICAS, messaging::kafka::PARTITIONS as usize);
    }
}
