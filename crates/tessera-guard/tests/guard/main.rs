//! tessera-guard against real Tessera instances over real HTTP. Waits fail after a generous
//! timeout instead of hanging; nothing asserts how fast something happened (the times are
//! printed).

mod attacks;
mod cluster;
mod keys;
mod policy;
mod support;
