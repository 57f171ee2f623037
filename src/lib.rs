//! chaperone keeps online sessions with children and young people safe by default.
//!
//! The pipeline (DESIGN.md): collect ([`platform`]) → evaluate and plan ([`engine`]) → apply and
//! verify ([`sweep`]) → record ([`store`]) → report ([`report`]).

pub mod app;
pub mod bench;
pub mod bench_webhooks;
pub mod control;
pub mod demo;
pub mod engine;
pub mod intents;
pub mod notify;
pub mod platform;
pub mod profile;
pub mod report;
pub mod scheduler;
pub mod server;
pub mod session;
pub mod settings;
pub mod store;
pub mod sweep;
pub mod telemetry;
