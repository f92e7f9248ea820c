//! The `passkeys` table. Every statement names the owner where the caller is a user, so another
//! user's passkey is never read, renamed or deleted through these functions.

use super::{PasskeyRow, PasskeyUse, StoreError, StoreResult};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

macro_rules! passkey_columns {
    () => {
        "id, user_id, name, credential_id, public_key, user_handle, counter, device_type, backed_up, transports, created_at"
    };
}

fn passkey_from(row: &AnyRow) -> Result<PasskeyRow, sqlx::Error> {
    Ok(PasskeyRow {
        id: row.try_get(0)?,
        user_id: row.try_get(1)?,
        name: row.try_get(2)?,
        credential_id: row.try_get(3)?,
        public_key: row.try_get(4)?,
        user_handle: row.try_get(5)?,
        counter: row.try_get(6)?,
        device_type: row.try_get(7)?,
        backed_up: row.try_get::<i64, _>(8)? != 0,
        transports: row.try_get(9)?,
        created_at: row.try_get(10)?,
    })
}

pub(super) async fn insert(pool: &AnyPool, p: &PasskeyRow) -> StoreResult<()> {
    sqlx::query(concat!(
        "INSERT INTO passkeys (",
        passkey_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(&p.id)
    .bind(&p.user_id)
    .bind(&p.name)
    .bind(&p.credential_id)
    .bind(&p.public_key)
    .bind(&p.user_handle)
    .bind(p.counter)
    .bind(&p.device_type)
    .bind(i64::from(p.backed_up))
    .bind(&p.transports)
    .bind(p.created_at)
    .execute(pool)
    .await
    .map_err(|e| match e.as_database_error() {
        Some(db) if db.is_unique_violation() => StoreError::Conflict,
        _ => StoreError::Database(e),
    })?;
    Ok(())
}

pub(super) async fn of_user(pool: &AnyPool, user_id: &str) -> StoreResult<Vec<PasskeyRow>> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        passkey_columns!(),
        " FROM passkeys WHERE user_id = $1 ORDER BY created_at, id"
    ))
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(passkey_from)
        .collect::<Result<_, sqlx::Error>>()?)
}

pub(super) async fn by_credential_id(
    pool: &AnyPool,
    credential_id: &str,
) -> StoreResult<Option<PasskeyRow>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        passkey_columns!(),
        " FROM passkeys WHERE credential_id = $1"
    ))
    .bind(credential_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.as_ref().map(passkey_from).transpose()?)
}

pub(super) async fn record_use(pool: &AnyPool, u: &PasskeyUse<'_>) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE passkeys SET counter = $1, public_key = $2, backed_up = $3 WHERE id = $4 AND counter = $5",
    )
    .bind(u.counter)
    .bind(u.public_key)
    .bind(i64::from(u.backed_up))
    .bind(u.id)
    .bind(u.previous_counter)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(done == 1)
}

pub(super) async fn rename(
    pool: &AnyPool,
    id: &str,
    user_id: &str,
    name: &str,
) -> StoreResult<Option<PasskeyRow>> {
    let row = sqlx::query(concat!(
        "UPDATE passkeys SET name = $1 WHERE id = $2 AND user_id = $3 RETURNING ",
        passkey_columns!()
    ))
    .bind(name)
    .bind(id)
    .bind(user_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.as_ref().map(passkey_from).transpose()?)
}

pub(super) async fn delete(pool: &AnyPool, id: &str, user_id: &str) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(done == 1)
}
