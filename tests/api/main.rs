//! `chaperone serve` over real HTTP: webhooks, health, metrics, shutdown, and a real child
//! process killed with SIGKILL between the 200 and the processing. One test binary, so the
//! library is linked once.

mod claims;
mod health;
mod helpers;
mod queue;
/// PostgreSQL / openssl: skipped loudly, or failed in CI (one copy for the whole binary).
#[path = "../common/requires.rs"]
mod requires;
mod restart;
/// SQLite and PostgreSQL stores for the store-level tests (one copy for the whole binary).
#[path = "../common/stores.rs"]
mod stores;
mod teams;
mod webhooks;
