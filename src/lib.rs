//! banditore: carries an Italian comune's official news to its citizens on WhatsApp.
//!
//! The library is the whole engine; `main.rs` is a thin command line over it. See
//! `ARCHITECTURE.md` for the map of modules and the invariants.

pub mod admin;
pub mod app;
pub mod bench;
pub mod charset;
pub mod config;
pub mod dates;
pub mod demo;
pub mod failpoint;
pub mod fetch;
pub mod format;
pub mod ident;
pub mod item;
pub mod outbox;
pub mod policy;
pub mod preview;
pub mod report;
pub mod review;
pub mod schedule;
pub mod simulator;
pub mod sink;
pub mod source;
pub mod store;
pub mod subscribers;
pub mod text;
pub mod webhooks;
