//! Store writes per refresh, counted by Postgres itself: a row trigger on every table logs each
//! insert, update and delete, so the figure does not depend on counters the code keeps.

use tessera_core::TestClock;

use super::support::PgDatabase;
use crate::helpers::spawn_instance;

/// Installs the counting trigger on every table of the test database.
const COUNT_WRITES: &str = r"
CREATE TABLE write_log (tbl text NOT NULL, op text NOT NULL);
CREATE FUNCTION log_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO write_log VALUES (TG_TABLE_NAME, TG_OP);
    RETURN NULL;
END $$;
DO $$
DECLARE t text;
BEGIN
    FOR t IN SELECT tablename FROM pg_tables
             WHERE schemaname = 'public' AND tablename <> 'write_log'
                   AND tablename NOT LIKE '\_sqlx%'
    LOOP
        EXECUTE format('CREATE TRIGGER count_writes AFTER INSERT OR UPDATE OR DELETE ON %I
                        FOR EACH ROW EXECUTE FUNCTION log_write()', t);
    END LOOP;
END $$;
";

#[tokio::test]
async fn a_refresh_costs_two_row_writes_counted_by_postgres() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    // No verification mail: the outbox sender's writes would land in the counted window.
    let app = spawn_instance(
        db.url(),
        "[email]\nverification = \"off\"",
        TestClock::starting_now(),
    )
    .await;
    app.create_user("ada@example.com").await;
    let grant = app.token_pair("ada@example.com").await;
    db.execute(COUNT_WRITES).await;

    const REFRESHES: i64 = 50;
    let mut refresh = grant["refresh_token"].as_str().unwrap().to_owned();
    for _ in 0..REFRESHES {
        let r = app.grant_refresh(&refresh).await;
        assert_eq!(r.status(), reqwest::StatusCode::OK);
        let body: serde_json::Value = r.json().await.unwrap();
        body["refresh_token"]
            .as_str()
            .unwrap()
            .clone_into(&mut refresh);
    }

    let total = db.scalar("SELECT count(*) FROM write_log").await;
    let spends = db
        .scalar("SELECT count(*) FROM write_log WHERE tbl = 'refresh_tokens' AND op = 'UPDATE'")
        .await;
    let mints = db
        .scalar("SELECT count(*) FROM write_log WHERE tbl = 'refresh_tokens' AND op = 'INSERT'")
        .await;
    eprintln!("{REFRESHES} refreshes: {total} row writes ({spends} spends, {mints} successors)");
    assert_eq!(spends, REFRESHES, "one conditional spend per refresh");
    assert_eq!(mints, REFRESHES, "one successor per refresh");
    assert_eq!(
        total,
        2 * REFRESHES,
        "nothing else is written (the session's activity write is coalesced)"
    );
}
