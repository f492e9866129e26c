//! The server's one integration test binary: black-box tests over real HTTP.

mod helpers;

mod admin;
mod cluster;
mod connections;
mod csrf;
mod errors;
mod ops;
mod pages;
mod sessions;
mod shared_cache;
mod tokens;
mod users;
