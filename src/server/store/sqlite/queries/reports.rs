//! The store interface in SQLite's SQL for the back office's reports: the figures per local
//! day, store and cashier, the liability, and the record of each sale and return.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::params;

use super::{Conn, SqliteTx, all};
use crate::server::store::*;
use crate::sqlite::ts;

/// SQLite's spelling of the report's SQL: the stores come as a JSON object of offsets, a
/// local day is `date()` of the stored RFC 3339 text moved by the offset.
const DIALECT: FigureDialect = FigureDialect {
    stores: "SELECT key, value FROM json_each(?1)",
    day: "date(f.at, o.mins || ' minutes')",
    from: "?2",
    until: "?3",
    first_day: "?4",
    last_day: "?5",
    sum_cast: "",
};

fn day_col(r: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<NaiveDate> {
    let s: String = r.get(idx)?;
    NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

impl<T: Conn> ReportRead for T {
    fn report_figures(&mut self, q: &FigureQuery<'_>) -> Result<Vec<FigureRow>, StoreError> {
        let (from, until) = q.utc_bounds();
        let mut stmt = self.conn().prepare_cached(&figures_sql(&DIALECT))?;
        let day = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
        all(stmt.query_map(
            params![
                q.stores_json(),
                ts(from),
                ts(until),
                day(q.first_day),
                day(q.last_day)
            ],
            |r| {
                let mut sums = [0i64; 15];
                for (i, s) in sums.iter_mut().enumerate() {
                    *s = r.get(3 + i)?;
                }
                Ok(FigureRow {
                    store_id: r.get(0)?,
                    day: day_col(r, 1)?,
                    cashier: r.get(2)?,
                    figures: Figures::from_array(sums),
                })
            },
        )?)
    }

    fn liability(
        &mut self,
        at: DateTime<Utc>,
        stores: Option<&[String]>,
    ) -> Result<Liability, StoreError> {
        let sql = liability_sql(
            "?1",
            "(?2 IS NULL OR c.store_id IN (SELECT value FROM json_each(?2)))",
            "",
        );
        let filter = stores.map(|s| serde_json::Value::from(s.to_vec()).to_string());
        let mut stmt = self.conn().prepare_cached(&sql)?;
        let (history, unburnt, pending) = stmt.query_row(params![ts(at), filter], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        Ok(liability_of(history, unburnt, pending))
    }
}

impl ReportTx for SqliteTx<'_> {
    fn insert_receipt_figures(&mut self, r: &NewReceiptFigures<'_>) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO receipt_figures
                (operation_id, kind, at, store_id, terminal_id, cashier, paid, discount)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                r.operation_id,
                r.kind,
                ts(r.at),
                r.store_id,
                r.terminal_id,
                r.cashier,
                r.paid,
                r.discount
            ],
        )?;
        Ok(())
    }
}
