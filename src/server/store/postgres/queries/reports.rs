//! The store interface in PostgreSQL's SQL for the back office's reports: the figures per
//! local day, store and cashier, the liability, and the record of each sale and return.

use chrono::{DateTime, NaiveDate, Utc};

use super::{Conn, PgRead, PgTx, col};
use crate::server::store::*;

/// PostgreSQL's spelling of the report's SQL: the stores come as a JSON object of offsets,
/// a local day is the UTC wall time moved by the offset, as a date; sums of `bigint` are
/// `numeric` until cast back.
const DIALECT: FigureDialect = FigureDialect {
    stores: "SELECT key, value::integer FROM jsonb_each_text($1::text::jsonb)",
    day: "((f.at AT TIME ZONE 'UTC') + make_interval(mins => o.mins))::date",
    from: "$2",
    until: "$3",
    first_day: "$4",
    last_day: "$5",
    sum_cast: "::bigint",
};

impl_reads! {
impl ReportRead {
    fn report_figures(&mut self, q: &FigureQuery<'_>) -> Result<Vec<FigureRow>, StoreError> {
        let (from, until) = q.utc_bounds();
        let stores = q.stores_json();
        self.session()
            .query(
                &figures_sql(&DIALECT),
                &[&stores, &from, &until, &q.first_day, &q.last_day],
            )?
            .iter()
            .map(|r| {
                let mut sums = [0i64; 15];
                for (i, s) in sums.iter_mut().enumerate() {
                    *s = col(r, 3 + i)?;
                }
                Ok(FigureRow {
                    store_id: col(r, 0)?,
                    day: col::<NaiveDate>(r, 1)?,
                    cashier: col(r, 2)?,
                    figures: Figures::from_array(sums),
                })
            })
            .collect()
    }

    fn liability(
        &mut self,
        at: DateTime<Utc>,
        stores: Option<&[String]>,
    ) -> Result<Liability, StoreError> {
        let sql = liability_sql(
            "$1",
            "($2::text IS NULL OR c.store_id IN \
             (SELECT jsonb_array_elements_text($2::text::jsonb)))",
            "::bigint",
        );
        let filter = stores.map(|s| serde_json::Value::from(s.to_vec()).to_string());
        let r = self.session().query_one(&sql, &[&at, &filter])?;
        Ok(liability_of(col(&r, 0)?, col(&r, 1)?, col(&r, 2)?))
    }
}
}

impl ReportTx for PgTx<'_> {
    fn insert_receipt_figures(&mut self, r: &NewReceiptFigures<'_>) -> Result<(), StoreError> {
        self.s.execute(
            "INSERT INTO receipt_figures
                (operation_id, kind, at, store_id, terminal_id, cashier, paid, discount)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &r.operation_id,
                &r.kind,
                &r.at,
                &r.store_id,
                &r.terminal_id,
                &r.cashier,
                &r.paid,
                &r.discount,
            ],
        )?;
        Ok(())
    }
}
