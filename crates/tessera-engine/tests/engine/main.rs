//! The engine driven directly, with no HTTP in front: what several instances sharing one store
//! do to each other's keys, and what the background tasks do over time. One integration test
//! binary (as kanidm does), one module per concern.

mod factors;
mod keys;
mod support;
mod sweep;
