//! The leader lock: one relay per service publishes, the holder of a session advisory lock.

use std::time::Duration;

use sqlx::PgConnection;

/// How often a leader makes sure its lock session is alive before publishing. Until it learns
/// the session died it may publish alongside a new leader: duplicates, in order, that consumers
/// drop in their inbox.
pub(super) const LOCK_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Whether the session holding the advisory lock still answers (within 5 s: a half-open
/// connection would otherwise hang the relay).
pub(super) async fn lock_alive(lock: &mut PgConnection) -> bool {
    let ping = sqlx::query("select 1").execute(lock);
    matches!(
        tokio::time::timeout(Duration::from_secs(5), ping).await,
        Ok(Ok(_))
    )
}

/// The advisory lock key of `service`'s relay: a stable hash of its name (FNV-1a).
pub(super) fn lock_key(service: &str) -> i64 {
    let hash = service.bytes().fold(0xcbf29ce484222325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x100000001b3)
    });
    hash as i64
}
