//! banditore: carries an Italian comune's official news to its citizens on WhatsApp.
//!
//! The library is the whole engine; `main.rs` is a thin command line over it. See
//! `ARCHITECTURE.md` for the map of modules, their layers and the invariants.

// The servers, above the daemon.
pub mod http;
// The loops, reload, the composition of one configuration.
pub mod daemon;
// Polling, delivery, review and what reads the store for people.
pub mod deliver;
pub mod pipeline;
pub mod report;
pub mod review;
pub mod subscribers;
// I/O at the edges.
pub mod failpoint;
pub mod fetch;
pub mod sink;
pub mod store;
// Configuration and the pure core.
pub mod audience;
pub mod charset;
pub mod config;
pub mod dates;
pub mod digest;
pub mod format;
pub mod html_depth;
pub mod ident;
pub mod item;
pub mod link;
pub mod metrics;
pub mod netguard;
pub mod opml;
pub mod phone;
pub mod policy;
pub mod schedule;
pub mod source;
pub mod text;
pub mod watch;
// Whole programs on loopback: the demonstration and the benchmark, and their simulator.
pub mod bench;
pub mod demo;
pub mod simulator;
