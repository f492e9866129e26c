//! placeholder until the Postgres backend lands
