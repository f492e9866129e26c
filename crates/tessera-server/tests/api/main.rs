//! The server's one integration test binary: black-box tests over real HTTP.

mod helpers;

mod admin;
mod at_rest;
mod authz;
mod authz_pyjwt;
mod cli;
mod cluster;
mod connections;
mod cookie_header;
mod cookie_refresh;
mod csrf;
mod email;
mod email_pages;
mod errors;
mod factor_pages;
mod factors;
mod forward_auth;
mod openapi;
mod ops;
mod pages;
mod passkeys;
mod restart;
mod revocations;
mod session_cap;
mod session_rotation;
mod sessions;
mod shared_cache;
mod throttles;
mod tokens;
mod users;
