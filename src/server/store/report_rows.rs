//! The row types of the reports' part of the storage seam: money in kopecks, bonuses in
//! kopecks of bonuses, counts as `i64`.

use std::ops::AddAssign;

use chrono::{DateTime, NaiveDate, Utc};

/// What a report asks the database for: these stores, each with the offset from UTC its
/// local days begin at, and the local days from `first_day` to `last_day`.
#[derive(Debug, Clone)]
pub struct FigureQuery<'a> {
    /// Store id and its offset in minutes; the id `""` stands for what belongs to no store
    /// (customers imported without one, the bonuses of such customers).
    pub stores: &'a [(String, i32)],
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
}

impl FigureQuery<'_> {
    /// The UTC moments every row of the days lies within, whatever a store's offset:
    /// `[from, until)`, a day wider on each side than the days themselves.
    pub fn utc_bounds(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let from = self.first_day.pred_opt().unwrap_or(self.first_day);
        let until = self
            .last_day
            .succ_opt()
            .and_then(|d| d.succ_opt())
            .unwrap_or(self.last_day);
        (
            from.and_time(chrono::NaiveTime::MIN).and_utc(),
            until.and_time(chrono::NaiveTime::MIN).and_utc(),
        )
    }

    /// The stores and offsets as the JSON object the engines' SQL reads them from.
    pub fn stores_json(&self) -> String {
        let map: serde_json::Map<String, serde_json::Value> = self
            .stores
            .iter()
            .map(|(id, mins)| (id.clone(), serde_json::Value::from(*mins)))
            .collect();
        serde_json::Value::Object(map).to_string()
    }
}

/// The figures of one store, local day and cashier (or any sum of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Figures {
    /// Sales to loyalty customers.
    pub receipts: i64,
    /// Kopecks the customers paid for them.
    pub revenue: i64,
    /// Kopecks of discount they got.
    pub discount: i64,
    /// Bonuses granted: for purchases, gifts, birthdays, referrals, promotions, by hand
    /// (not the bonuses a return gave back).
    pub accrued: i64,
    /// Bonuses spent on purchases or taken off by hand.
    pub spent: i64,
    /// Bonuses that burnt.
    pub burnt: i64,
    /// Returns of such sales.
    pub returns: i64,
    /// Kopecks paid back for them.
    pub returned: i64,
    /// Bonuses given back by returns (they paid for the returned goods).
    pub refunded: i64,
    /// Bonuses taken back by returns (they were accrued on the returned goods).
    pub clawed_back: i64,
    /// Customers registered.
    pub new_customers: i64,
    pub processing_given: i64,
    pub processing_withdrawn: i64,
    pub advertising_given: i64,
    pub advertising_withdrawn: i64,
}

impl Figures {
    /// The figures as an array, in [`Figures::from_array`]'s order (the engines' columns).
    pub fn to_array(&self) -> [i64; 15] {
        [
            self.receipts,
            self.revenue,
            self.discount,
            self.accrued,
            self.spent,
            self.burnt,
            self.returns,
            self.returned,
            self.refunded,
            self.clawed_back,
            self.new_customers,
            self.processing_given,
            self.processing_withdrawn,
            self.advertising_given,
            self.advertising_withdrawn,
        ]
    }

    pub fn from_array(a: [i64; 15]) -> Figures {
        let [
            receipts,
            revenue,
            discount,
            accrued,
            spent,
            burnt,
            returns,
            returned,
            refunded,
            clawed_back,
            new_customers,
            processing_given,
            processing_withdrawn,
            advertising_given,
            advertising_withdrawn,
        ] = a;
        Figures {
            receipts,
            revenue,
            discount,
            accrued,
            spent,
            burnt,
            returns,
            returned,
            refunded,
            clawed_back,
            new_customers,
            processing_given,
            processing_withdrawn,
            advertising_given,
            advertising_withdrawn,
        }
    }
}

impl AddAssign for Figures {
    fn add_assign(&mut self, other: Figures) {
        let mut sum = self.to_array();
        for (a, b) in sum.iter_mut().zip(other.to_array()) {
            *a += b;
        }
        *self = Figures::from_array(sum);
    }
}

/// The figures of one store, local day and cashier, as summed by the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FigureRow {
    /// `""`: no store.
    pub store_id: String,
    pub day: NaiveDate,
    /// The cashier's name; `""` when nobody at a till did it (a burn, a birthday).
    pub cashier: String,
    pub figures: Figures,
}

/// The bonuses customers hold at one moment, in kopecks: what the chain owes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Liability {
    /// Spendable then (less the debts returns left).
    pub active: i64,
    /// Granted but not active yet.
    pub pending: i64,
}

/// A sale or return to record for the reports.
#[derive(Debug, Clone)]
pub struct NewReceiptFigures<'a> {
    pub operation_id: &'a str,
    /// `"sale"` or `"return"`.
    pub kind: &'a str,
    pub at: DateTime<Utc>,
    pub store_id: &'a str,
    pub terminal_id: &'a str,
    pub cashier: &'a str,
    /// Kopecks paid, or paid back.
    pub paid: i64,
    pub discount: i64,
}

/// How one engine spells what the report's SQL needs; the rest of it is the same on both.
pub(crate) struct FigureDialect {
    /// A `SELECT store_id, mins` over the stores parameter.
    pub stores: &'static str,
    /// The local day of `f.at` at `o.mins` minutes from UTC, comparable with `days`.
    pub day: &'static str,
    /// The UTC bounds' parameters, `[from, until)`.
    pub from: &'static str,
    pub until: &'static str,
    /// The first and last local days' parameters.
    pub first_day: &'static str,
    pub last_day: &'static str,
    /// What follows a `SUM(…)` to make it an `i64` again.
    pub sum_cast: &'static str,
}

/// The report's SQL: every source of a figure as rows of (store, time, cashier, figures…),
/// summed per store, local day and cashier. Bonuses come from the ledger: a history line
/// belongs to the store of the sale or return that wrote it, else of the till whose
/// operation did, else to the customer's home store; its cashier is the one it names, else
/// the one of the sale or return it belongs to.
pub(crate) fn figures_sql(d: &FigureDialect) -> String {
    let FigureDialect {
        stores,
        day,
        from,
        until,
        first_day,
        last_day,
        sum_cast: c,
    } = d;
    let sums = [
        "receipts",
        "revenue",
        "discount",
        "accrued",
        "spent",
        "burnt",
        "returns",
        "returned",
        "refunded",
        "clawed_back",
        "new_customers",
        "processing_given",
        "processing_withdrawn",
        "advertising_given",
        "advertising_withdrawn",
    ]
    .map(|f| format!("SUM({f}){c}"))
    .join(", ");
    let zeros = |n: usize| vec!["0"; n].join(", ");
    format!(
        "WITH o(store_id, mins) AS ({stores}),
        f(store_id, at, cashier, receipts, revenue, discount, accrued, spent, burnt, returns,
          returned, refunded, clawed_back, new_customers, processing_given,
          processing_withdrawn, advertising_given, advertising_withdrawn) AS (
            SELECT r.store_id, r.at, r.cashier,
                CASE WHEN r.kind = 'sale' THEN 1 ELSE 0 END,
                CASE WHEN r.kind = 'sale' THEN r.paid ELSE 0 END,
                r.discount, {z3},
                CASE WHEN r.kind = 'return' THEN 1 ELSE 0 END,
                CASE WHEN r.kind = 'return' THEN r.paid ELSE 0 END,
                {z7}
            FROM receipt_figures r WHERE r.at >= {from} AND r.at < {until}
            UNION ALL
            SELECT COALESCE(NULLIF(rf.store_id, ''), t.store_id, c.store_id, ''), e.at,
                COALESCE(e.actor, rf.cashier, ''),
                {z3},
                CASE WHEN e.amount > 0 AND e.kind <> 'return_refund' THEN e.amount ELSE 0 END,
                CASE WHEN e.amount < 0 AND e.kind IN ('purchase', 'manual') THEN -e.amount ELSE 0 END,
                CASE WHEN e.kind = 'expiry' THEN -e.amount ELSE 0 END,
                0, 0,
                CASE WHEN e.kind = 'return_refund' THEN e.amount ELSE 0 END,
                CASE WHEN e.kind = 'return_clawback' THEN -e.amount ELSE 0 END,
                {z5}
            FROM ledger_entries e
                LEFT JOIN operations op ON op.id = e.operation_id
                LEFT JOIN terminals t ON t.id = op.terminal_id
                LEFT JOIN customers c ON c.id = e.customer_id
                LEFT JOIN receipt_figures rf ON rf.operation_id = e.operation_id
            WHERE e.at >= {from} AND e.at < {until}
            UNION ALL
            SELECT COALESCE(c.store_id, ''), c.registered_at, COALESCE(c.cashier, ''),
                {z10}, 1, {z4}
            FROM customers c WHERE c.registered_at >= {from} AND c.registered_at < {until}
            UNION ALL
            SELECT COALESCE(t.store_id, c.store_id, ''), k.at, COALESCE(k.cashier, ''),
                {z11},
                CASE WHEN k.kind = 'processing' AND k.granted THEN 1 ELSE 0 END,
                CASE WHEN k.kind = 'processing' AND NOT k.granted THEN 1 ELSE 0 END,
                CASE WHEN k.kind = 'advertising' AND k.granted THEN 1 ELSE 0 END,
                CASE WHEN k.kind = 'advertising' AND NOT k.granted THEN 1 ELSE 0 END
            FROM consents k
                LEFT JOIN terminals t ON t.id = k.terminal_id
                LEFT JOIN customers c ON c.id = k.customer_id
            WHERE k.at >= {from} AND k.at < {until}
        ),
        g AS (SELECT f.*, {day} AS day FROM f JOIN o ON o.store_id = f.store_id)
        SELECT store_id, day, cashier, {sums}
        FROM g WHERE day >= {first_day} AND day <= {last_day}
        GROUP BY store_id, day, cashier ORDER BY store_id, day, cashier",
        z3 = zeros(3),
        z4 = zeros(4),
        z5 = zeros(5),
        z7 = zeros(7),
        z10 = zeros(10),
        z11 = zeros(11),
    )
}

/// The liability's SQL: the history up to the moment (which is what the batches held
/// then), less the bonuses past their burning time that the expiry job has not burnt yet;
/// the pending part is the batches granted by then and not active yet. A batch's remainder
/// is not kept through time, so a pending batch counts as granted: the rare return that
/// took bonuses back before they activated lowers the active part instead.
/// `customer_filter` is a condition on the customer `c` of an entry or batch.
pub(crate) fn liability_sql(at: &str, customer_filter: &str, sum_cast: &str) -> String {
    let c = sum_cast;
    format!(
        "SELECT
            (SELECT COALESCE(SUM(e.amount){c}, 0) FROM ledger_entries e
                JOIN customers c ON c.id = e.customer_id
                WHERE e.at <= {at} AND {customer_filter}),
            (SELECT COALESCE(SUM(b.remaining){c}, 0) FROM bonus_batches b
                JOIN customers c ON c.id = b.customer_id
                WHERE b.burns_at <= {at} AND b.remaining > 0 AND b.created_at <= {at}
                  AND {customer_filter}),
            (SELECT COALESCE(SUM(b.amount){c}, 0) FROM bonus_batches b
                JOIN customers c ON c.id = b.customer_id
                WHERE b.created_at <= {at} AND b.active_from > {at} AND b.amount > 0
                  AND {customer_filter})"
    )
}

/// The liability from [`liability_sql`]'s three sums.
pub(crate) fn liability_of(history: i64, unburnt: i64, pending: i64) -> Liability {
    Liability {
        active: history - unburnt - pending,
        pending,
    }
}
