//! [`UserAdminStore`] and [`AuditStore`] for [`SqlStore`]. A user list is the one statement built
//! at run time: its column names come only from [`UserField::column`] (fixed identifiers) and
//! every value is a bound parameter, so no client text reaches the SQL.

use super::sql::{USER_COLUMNS, conflict_or, user_from};
use super::{
    AuditQuery, AuditRow, AuditStore, FilterOp, FilterValue, SqlStore, StoreResult, User,
    UserAdminStore, UserFilter, UserPatch, UserQuery,
};
use async_trait::async_trait;
use sqlx::any::AnyArguments;
use sqlx::{AssertSqlSafe, Row};
use std::fmt::Write as _;

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, AnyArguments>;

fn bind(q: AnyQuery<'_>, v: FilterValue) -> AnyQuery<'_> {
    match v {
        FilterValue::Text(s) => q.bind(s),
        FilterValue::Int(i) => q.bind(i),
    }
}

/// `LIKE` pattern text with `\`, `%` and `_` escaped.
fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Appends ` AND <condition>` for `filter` to `sql`, pushing its values onto `binds`.
fn condition(sql: &mut String, binds: &mut Vec<FilterValue>, filter: &UserFilter) {
    fn param(binds: &mut Vec<FilterValue>, v: FilterValue) -> String {
        binds.push(v);
        format!("${}", binds.len())
    }
    let column = filter.field.column();
    let Some(first) = filter.values.first().cloned() else {
        // No value: nothing can match (parsing never builds this; kept total anyway).
        sql.push_str(" AND 1 = 0");
        return;
    };
    let pattern = match &first {
        FilterValue::Text(s) => like_escape(&s.to_lowercase()),
        FilterValue::Int(i) => i.to_string(),
    };
    let piece = match filter.op {
        FilterOp::Eq => format!(" AND {column} = {}", param(binds, first)),
        // NULL is "not equal" to a value, as a reader expects.
        FilterOp::Ne => {
            let p = param(binds, first);
            format!(" AND ({column} IS NULL OR {column} <> {p})")
        }
        FilterOp::Lt => format!(" AND {column} < {}", param(binds, first)),
        FilterOp::Lte => format!(" AND {column} <= {}", param(binds, first)),
        FilterOp::Gt => format!(" AND {column} > {}", param(binds, first)),
        FilterOp::Gte => format!(" AND {column} >= {}", param(binds, first)),
        FilterOp::In | FilterOp::NotIn => {
            let list: Vec<String> = filter
                .values
                .iter()
                .map(|v| param(binds, v.clone()))
                .collect();
            let list = list.join(", ");
            if filter.op == FilterOp::In {
                format!(" AND {column} IN ({list})")
            } else {
                format!(" AND ({column} IS NULL OR {column} NOT IN ({list}))")
            }
        }
        FilterOp::Contains | FilterOp::StartsWith | FilterOp::EndsWith => {
            let pattern = match filter.op {
                FilterOp::Contains => format!("%{pattern}%"),
                FilterOp::StartsWith => format!("{pattern}%"),
                _ => format!("%{pattern}"),
            };
            let p = param(binds, FilterValue::Text(pattern));
            format!(" AND LOWER(COALESCE({column}, '')) LIKE {p} ESCAPE '\\'")
        }
    };
    sql.push_str(&piece);
}

fn where_clause(query: &UserQuery) -> (String, Vec<FilterValue>) {
    let mut sql = String::from(" WHERE 1 = 1");
    let mut binds = Vec::new();
    for filter in &query.filters {
        condition(&mut sql, &mut binds, filter);
    }
    (sql, binds)
}

#[async_trait]
impl UserAdminStore for SqlStore {
    async fn list_users(&self, query: &UserQuery) -> StoreResult<(Vec<User>, u64)> {
        let (clause, binds) = where_clause(query);
        let count_sql = format!("SELECT COUNT(*) FROM users u{clause}");
        let mut count = sqlx::query(AssertSqlSafe(count_sql));
        for v in binds.iter().cloned() {
            count = bind(count, v);
        }
        let total: i64 = count.fetch_one(self.pool()).await?.try_get(0)?;

        let mut sql = format!("SELECT {USER_COLUMNS} FROM users u{clause} ORDER BY ");
        if let Some((field, desc)) = query.sort {
            let dir = if desc { "DESC" } else { "ASC" };
            // NULLs first ascending and last descending on both databases.
            let _ = write!(
                sql,
                "CASE WHEN {col} IS NULL THEN 0 ELSE 1 END {dir}, {col} {dir}, ",
                col = field.column()
            );
        }
        let n = binds.len();
        let _ = write!(
            sql,
            "u.created_at ASC, u.id ASC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for v in binds {
            q = bind(q, v);
        }
        let offset = i64::try_from(query.offset).unwrap_or(i64::MAX);
        let rows = q
            .bind(i64::from(query.limit))
            .bind(offset)
            .fetch_all(self.pool())
            .await?;
        let users = rows
            .iter()
            .map(|r| user_from(r, 0))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((users, u64::try_from(total).unwrap_or(0)))
    }

    async fn patch_user(&self, user_id: &str, patch: &UserPatch, now: i64) -> StoreResult<bool> {
        /// A typed value: a NULL keeps its column's type (PostgreSQL refuses a text NULL for a
        /// BIGINT column).
        enum P {
            Text(Option<String>),
            Int(Option<i64>),
        }
        let mut sets: Vec<String> = Vec::new();
        let mut binds: Vec<P> = vec![P::Text(Some(user_id.to_owned()))];
        let mut set = |column: &str, v: P| {
            binds.push(v);
            sets.push(format!("{column} = ${}", binds.len()));
        };
        if let Some(name) = &patch.name {
            set("name", P::Text(Some(name.clone())));
        }
        if let Some(image) = &patch.image {
            set("image", P::Text(image.clone()));
        }
        if let Some(email) = &patch.email {
            set("email", P::Text(Some(email.clone())));
        }
        if let Some(verified) = patch.email_verified {
            set("email_verified", P::Int(Some(i64::from(verified))));
        }
        if let Some(role) = &patch.role {
            set("role", P::Text(Some(role.clone())));
        }
        if let Some((banned, reason, expires)) = &patch.ban {
            set("banned", P::Int(Some(i64::from(*banned))));
            set("ban_reason", P::Text(reason.clone()));
            set("ban_expires", P::Int(*expires));
        }
        set("updated_at", P::Int(Some(now)));
        let sql = format!("UPDATE users SET {} WHERE id = $1", sets.join(", "));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for v in binds {
            q = match v {
                P::Text(v) => q.bind(v),
                P::Int(v) => q.bind(v),
            };
        }
        let done = q.execute(self.pool()).await.map_err(conflict_or)?;
        Ok(done.rows_affected() > 0)
    }
}

const AUDIT_COLUMNS: &str =
    "id, at, event, outcome, user_id, actor_id, session_id, ip_address, user_agent, detail";

fn audit_from(r: &sqlx::any::AnyRow) -> Result<AuditRow, sqlx::Error> {
    Ok(AuditRow {
        id: r.try_get(0)?,
        at: r.try_get(1)?,
        event: r.try_get(2)?,
        outcome: r.try_get(3)?,
        user_id: r.try_get(4)?,
        actor_id: r.try_get(5)?,
        session_id: r.try_get(6)?,
        ip_address: r.try_get(7)?,
        user_agent: r.try_get(8)?,
        detail: r.try_get(9)?,
    })
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn insert_audit(&self, row: &AuditRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_log (id, at, event, outcome, user_id, actor_id, session_id, ip_address, user_agent, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&row.id)
        .bind(row.at)
        .bind(&row.event)
        .bind(&row.outcome)
        .bind(&row.user_id)
        .bind(&row.actor_id)
        .bind(&row.session_id)
        .bind(&row.ip_address)
        .bind(&row.user_agent)
        .bind(&row.detail)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn audit_rows(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRow>> {
        // One statement for every combination: an absent condition is switched off by its flag.
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE ($1 = 0 OR user_id = $2 OR actor_id = $2) \
             AND at >= $3 ORDER BY at DESC, id DESC LIMIT $4"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(i64::from(query.user_id.is_some()))
            .bind(query.user_id.clone().unwrap_or_default())
            .bind(query.since.unwrap_or(i64::MIN))
            .bind(i64::from(query.limit))
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(audit_from).collect::<Result<_, _>>()?)
    }

    async fn prune_audit(&self, before: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM audit_log WHERE at < $1")
            .bind(before)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::like_escape;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_escape("a%b_c\\d"), "a\\%b\\_c\\\\d");
    }
}
