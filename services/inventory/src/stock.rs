//! Stock queries. Reserving locks the order's product rows in SKU order, so concurrent orders
//! for overlapping SKUs queue instead of deadlocking, and the check-then-decrement cannot
//! oversell (the `available >= 0` constraint backs it up).

use events::{Line, catalogue};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Product {
    pub sku: String,
    pub name: String,
    pub price_cents: i64,
    pub available: i32,
    pub reserved: i32,
    pub committed: i32,
}

/// Fills an empty product table from the catalogue.
pub async fn seed(pool: &PgPool) -> sqlx::Result<()> {
    for (sku, name, price) in catalogue::PRODUCTS {
        sqlx::query(
            "insert into products (sku, name, price_cents, available) values ($1, $2, $3, $4)
             on conflict (sku) do nothing",
        )
        .bind(sku)
        .bind(name)
        .bind(price)
        .bind(catalogue::INITIAL_STOCK)
        .execute(pool)
        .await?;
    }
    Ok(())
}

pub async fn products(conn: &mut PgConnection) -> sqlx::Result<Vec<Product>> {
    sqlx::query_as(
        "select sku, name, price_cents, available, reserved, committed from products order by sku",
    )
    .fetch_all(conn)
    .await
}

pub async fn set_available(
    conn: &mut PgConnection,
    sku: &str,
    available: i32,
) -> sqlx::Result<Option<Product>> {
    sqlx::query_as(
        "update products set available = $2 where sku = $1
         returning sku, name, price_cents, available, reserved, committed",
    )
    .bind(sku)
    .bind(available)
    .fetch_optional(conn)
    .await
}

platform::text_enum! {
    /// Where an order's reservation is. CANCELLED is also the tombstone an `OrderCancelled`
    /// leaves for an order never seen, so a late `OrderPlaced` reserves nothing.
    pub enum Reservation {
        Held = "HELD",
        Committed = "COMMITTED",
        Released = "RELEASED",
        Rejected = "REJECTED",
        Cancelled = "CANCELLED",
    }
}

/// The reservation of `order_id`, locked: its status and lines.
pub async fn lock_reservation(
    conn: &mut PgConnection,
    order_id: Uuid,
) -> sqlx::Result<Option<(Reservation, Vec<Line>)>> {
    let row: Option<(Reservation, sqlx::types::Json<Vec<Line>>)> =
        sqlx::query_as("select status, lines from reservations where order_id = $1 for update")
            .bind(order_id)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(status, lines)| (status, lines.0)))
}

pub async fn insert_reservation(
    conn: &mut PgConnection,
    order_id: Uuid,
    status: Reservation,
    lines: &[Line],
) -> sqlx::Result<()> {
    sqlx::query("insert into reservations (order_id, status, lines) values ($1, $2, $3)")
        .bind(order_id)
        .bind(status)
        .bind(sqlx::types::Json(lines))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_reservation_status(
    conn: &mut PgConnection,
    order_id: Uuid,
    status: Reservation,
) -> sqlx::Result<()> {
    sqlx::query("update reservations set status = $2, updated_at = now() where order_id = $1")
        .bind(order_id)
        .bind(status)
        .execute(conn)
        .await?;
    Ok(())
}

/// Reserves every line or none. Returns the first SKU that is short (or unknown), if any.
pub async fn reserve(conn: &mut PgConnection, lines: &[Line]) -> sqlx::Result<Option<String>> {
    let mut sorted: Vec<&Line> = lines.iter().collect();
    sorted.sort_by(|a, b| a.sku.cmp(&b.sku));
    let skus: Vec<&str> = sorted.iter().map(|line| line.sku.as_str()).collect();
    let stock: Vec<(String, i32)> = sqlx::query_as(
        "select sku, available from products where sku = any($1) order by sku for update",
    )
    .bind(&skus)
    .fetch_all(&mut *conn)
    .await?;
    for line in &sorted {
        let available = stock
            .iter()
            .find(|(sku, _)| *sku == line.sku)
            .map(|(_, available)| *available);
        if available.is_none_or(|available| available < line.quantity) {
            return Ok(Some(line.sku.clone()));
        }
    }
    for line in sorted {
        sqlx::query(
            "update products set available = available - $2, reserved = reserved + $2 where sku = $1",
        )
        .bind(&line.sku)
        .bind(line.quantity)
        .execute(&mut *conn)
        .await?;
    }
    Ok(None)
}

/// Moves a held reservation's quantities back to available (`commit = false`) or to committed.
pub async fn settle(conn: &mut PgConnection, lines: &[Line], commit: bool) -> sqlx::Result<()> {
    let mut sorted: Vec<&Line> = lines.iter().collect();
    sorted.sort_by(|a, b| a.sku.cmp(&b.sku));
    let target = if commit { "committed" } else { "available" };
    for line in sorted {
        sqlx::query(&format!(
            "update products set reserved = reserved - $2, {target} = {target} + $2 where sku = $1"
        ))
        .bind(&line.sku)
        .bind(line.quantity)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
