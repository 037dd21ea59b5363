//! The printable handout's own text (seed 003): at most one row. No row means Portal's default
//! text, which the use case supplies.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use time::PrimitiveDateTime;

use crate::StoreError;
use crate::db::{DbConn, on_backend};
use crate::schema::portal_handout;

/// The one row's key (the table's CHECK allows no other).
const ROW: i32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = portal_handout)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct HandoutRow {
    pub title: String,
    pub body: String,
    pub updated_by: Option<String>,
    pub updated_by_name: String,
    pub updated_at: PrimitiveDateTime,
}

/// The clinic's own handout text, if it wrote one.
pub async fn handout(conn: &mut DbConn) -> Result<Option<HandoutRow>, StoreError> {
    Ok(on_backend!(conn, |c| portal_handout::table
        .find(ROW)
        .select(HandoutRow::as_select())
        .first(c)
        .await
        .optional())?)
}

/// Writes the clinic's text, replacing any earlier one. Call inside [`crate::Db::write`], with
/// `updated_at` from `time_util::now_utc` (truncated, so both backends read back the same).
pub async fn save_handout(conn: &mut DbConn, row: &HandoutRow) -> Result<(), StoreError> {
    let at = row.updated_at;
    on_backend!(conn, |c| diesel::insert_into(portal_handout::table)
        .values((
            portal_handout::id.eq(ROW),
            portal_handout::title.eq(&row.title),
            portal_handout::body.eq(&row.body),
            portal_handout::updated_by.eq(&row.updated_by),
            portal_handout::updated_by_name.eq(&row.updated_by_name),
            portal_handout::updated_at.eq(at),
        ))
        .on_conflict(portal_handout::id)
        .do_update()
        .set((
            portal_handout::title.eq(&row.title),
            portal_handout::body.eq(&row.body),
            portal_handout::updated_by.eq(&row.updated_by),
            portal_handout::updated_by_name.eq(&row.updated_by_name),
            portal_handout::updated_at.eq(at),
        ))
        .execute(c)
        .await)?;
    Ok(())
}

/// Removes the clinic's text, so that the default applies again. Returns whether there was one.
pub async fn delete_handout(conn: &mut DbConn) -> Result<bool, StoreError> {
    let n = on_backend!(conn, |c| diesel::delete(portal_handout::table.find(ROW)).execute(c).await)?;
    Ok(n > 0)
}
