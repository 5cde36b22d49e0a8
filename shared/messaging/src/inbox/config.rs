//! What a consumer reads, as which group, and how it retries.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use resilience::RetryPolicy;

use super::Upcaster;

#[derive(Clone, Debug)]
pub struct ConsumerConfig {
    /// Metric label and log field.
    pub service: String,
    /// The consumer group; its dead letters go to `<group>.dlq`.
    pub group: String,
    pub topics: Vec<String>,
    pub brokers: String,
    /// Attempts and waits for transient failures before a message is dead-lettered.
    pub retry: RetryPolicy,
    /// Upcasters by the type they read, applied until none matches (v1 → v2 → v3).
    pub upcasters: HashMap<String, Upcaster>,
    /// `group.instance.id`: a static member (KIP-345). A restarted process with the same id
    /// takes its partitions back at once, instead of waiting a session timeout for the broker to
    /// expire the member it replaces (a service killed with SIGKILL never said goodbye).
    /// Unique per replica within the group.
    pub instance_id: Option<String>,
    /// Set when the group first gives this consumer its assignment (possibly empty). `/readyz`
    /// waits for it, so the first orders after start-up do not wait on the group join.
    pub joined: Arc<AtomicBool>,
}

impl ConsumerConfig {
    pub fn new(service: &str, group: &str, topics: &[&str], brokers: &str) -> Self {
        Self {
            service: service.to_owned(),
            group: group.to_owned(),
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            brokers: brokers.to_owned(),
            retry: RetryPolicy {
                max_attempts: 5,
                initial_interval: Duration::from_millis(100),
                max_interval: Duration::from_secs(5),
                multiplier: 2.0,
                jitter: true,
            },
            upcasters: HashMap::new(),
            instance_id: None,
            joined: Arc::default(),
        }
    }

    pub fn static_member(mut self, instance_id: Option<String>) -> Self {
        self.instance_id = instance_id;
        self
    }

    pub fn upcast(mut self, from_type: &str, upcaster: Upcaster) -> Self {
        self.upcasters.insert(from_type.to_owned(), upcaster);
        self
    }

    pub fn dlq_topic(&self) -> String {
        dlq_topic(&self.group)
    }
}

pub fn dlq_topic(group: &str) -> String {
    format!("{group}.dlq")
}
