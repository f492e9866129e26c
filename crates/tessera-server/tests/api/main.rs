//! The server's one integration test binary: black-box tests over real HTTP.

mod helpers;

mod admin;
mod at_rest;
mod cluster;
mod csrf;
mod errors;
mod ops;
mod pages;
mod sessions;
mod shared_cache;
mod tokens;
mod users;
