//! Telling transient database failures (wait and try again) from
//! permanent ones (a problem with the data or the schema).

use sea_orm::{DbErr, RuntimeErr};

/// True when a database error may go away by itself (connection lost,
/// server restarting, lock contention, serialization conflict): the message
/// is retried in place and never dead-lettered for it. Anything else is a
/// problem with the data or the schema.
pub fn is_transient(error: &DbErr) -> bool {
    match error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            use sea_orm::sqlx::Error;
            match e.as_ref() {
                Error::Database(db) => {
                    let code = db.code().unwrap_or_default();
                    // PostgreSQL SQLSTATE classes: 08 connection, 40
                    // serialization/deadlock, 53 resources, 57 operator
                    // intervention (shutdown, statement timeout), 58 system
                    // error; and 55P03, a lock wait past lock_timeout.
                    let pg = code.len() == 5
                        && (["08", "40", "53", "57", "58"]
                            .iter()
                            .any(|c| code.starts_with(c))
                            || code == "55P03");
                    // SQLite result codes: 5 BUSY, 6 LOCKED, 10 IOERR, 13 FULL (and extended forms).
                    let sqlite = code
                        .parse::<i32>()
                        .is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 10 | 13));
                    pg || sqlite
                }
                Error::Io(_)
                | Error::PoolTimedOut
                | Error::PoolClosed
                | Error::Protocol(_)
                | Error::Tls(_)
                | Error::WorkerCrashed => true,
                _ => false,
            }
        }
        DbErr::Exec(RuntimeErr::Internal(_)) | DbErr::Query(RuntimeErr::Internal(_)) => true,
        _ => false,
    }
}

/// True for lock contention between transactions (or, on SQLite, between
/// connections being opened): PostgreSQL's serialization failures and
/// deadlocks (SQLSTATE 40001, 40P01), SQLite's busy and locked results.
pub fn is_contention(error: &DbErr) -> bool {
    match error {
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => match e.as_ref() {
            sea_orm::sqlx::Error::Database(db) => {
                let code = db.code().unwrap_or_default();
                code == "40001"
                    || code == "40P01"
                    || code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
            }
            _ => false,
        },
        _ => false,
    }
}
