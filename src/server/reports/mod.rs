//! The back office's reports: for any period, per local day, store or cashier, the loyalty
//! receipts, revenue and discount, the bonuses accrued, spent and burnt, the returns, the new
//! customers and the consents given and withdrawn; and the outstanding bonus liability as
//! of a moment, for accounting.
//!
//! The database sums the figures ([`store::ReportRead::report_figures`]) per store, local
//! day and cashier: a year of a chain's sales comes back as a few thousand rows, never as
//! the sales themselves. A day is the store's local day in its time zone:
//! [`utc_offset_minutes`] is the one place a store's offset from UTC comes from, taken at
//! the start of the period (Russia keeps no daylight saving time; where a zone changes
//! its offset inside a period, the rest of the period is read at the first offset). A store manager's report takes the list of
//! their stores, and nothing of another store is read.
//!
//! Engine-free: everything goes through the store seam. Exports are in [`export`].

pub mod export;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::backoffice::Actor;
use super::store::{self, FigureQuery, Figures, Liability, Store, StoreError, StoreRow};
use crate::domain::money::{Bonus, Money};
use crate::protocol::reports::{
    LiabilityView, ReportBy, ReportFigures, ReportLine as LineView, ReportView,
};

/// The offset from UTC (minutes) of what belongs to no store: Moscow time, the stores'
/// default zone.
pub const NO_STORE_OFFSET_MINUTES: i32 = 180;

/// The longest period one report covers.
pub const MAX_DAYS: i64 = 3 * 366;

/// The offset from UTC, in minutes, of a store's time zone at `at`.
pub fn utc_offset_minutes(store: &StoreRow, at: DateTime<Utc>) -> i32 {
    super::backoffice::chain::offset_minutes(store.tz(), at)
}

/// How a report's lines are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// One line per local day of the period, every day (the stores summed).
    Day,
    /// One line per store.
    Store,
    /// One line per cashier of each store.
    Cashier,
}

impl FromStr for GroupBy {
    type Err = ReportError;
    fn from_str(s: &str) -> Result<GroupBy, ReportError> {
        match s {
            "day" => Ok(GroupBy::Day),
            "store" => Ok(GroupBy::Store),
            "cashier" => Ok(GroupBy::Cashier),
            other => Err(ReportError::BadGrouping(other.to_string())),
        }
    }
}

impl fmt::Display for GroupBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GroupBy::Day => "day",
            GroupBy::Store => "store",
            GroupBy::Cashier => "cashier",
        })
    }
}

/// Local days from `first` to `last`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub first: NaiveDate,
    pub last: NaiveDate,
}

impl Period {
    pub fn new(first: NaiveDate, last: NaiveDate) -> Result<Period, ReportError> {
        if last < first {
            return Err(ReportError::BadPeriod(format!(
                "the period ends ({last}) before it begins ({first})"
            )));
        }
        if (last - first).num_days() >= MAX_DAYS {
            return Err(ReportError::BadPeriod(format!(
                "a report covers at most {MAX_DAYS} days; {first}…{last} is longer"
            )));
        }
        Ok(Period { first, last })
    }

    /// Every day of the period, in order.
    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.first.iter_days().take_while(|d| *d <= self.last)
    }
}

/// Reads a date as `ГГГГ-ММ-ДД` or `ДД.ММ.ГГГГ`.
pub fn parse_date(s: &str) -> Result<NaiveDate, ReportError> {
    let s = s.trim();
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(s, "%d.%m.%Y"))
        .map_err(|_| ReportError::BadDate(s.to_string()))
}

/// The moment a local day ends, at the offset of what belongs to no store: the "as of"
/// of a liability asked for a date.
pub fn end_of_day(day: NaiveDate) -> DateTime<Utc> {
    let next = day.succ_opt().unwrap_or(day);
    next.and_time(chrono::NaiveTime::MIN).and_utc()
        - Duration::minutes(i64::from(NO_STORE_OFFSET_MINUTES))
        - Duration::microseconds(1)
}

/// What a report is asked for.
#[derive(Debug, Clone)]
pub struct ReportRequest<'a> {
    pub period: Period,
    pub by: GroupBy,
    /// Only these stores (a store manager's, or the ones asked for); `None`: the whole
    /// chain, with what belongs to no store.
    pub stores: Option<&'a [String]>,
}

/// A store as a report names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreName {
    /// `""`: no store (customers imported without one).
    pub id: String,
    pub name: String,
}

/// One line of a report: what it is of, and its figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportLine {
    /// Set when the report is by day.
    pub day: Option<NaiveDate>,
    /// Set when the report is by store or by cashier.
    pub store: Option<StoreName>,
    /// Set when the report is by cashier; `""`: nobody at a till (burns, birthdays).
    pub cashier: Option<String>,
    pub figures: Figures,
}

/// A report: its lines in order and their total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub period: Period,
    pub by: GroupBy,
    pub lines: Vec<ReportLine>,
    pub total: Figures,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{0:?} is not a date: write it as 2026-03-31 or 31.03.2026")]
    BadDate(String),
    #[error("{0}")]
    BadPeriod(String),
    #[error("a report is by day, store or cashier, not {0:?}")]
    BadGrouping(String),
    #[error("there is no store {0:?}")]
    UnknownStore(String),
    #[error("store {0} is not one of this account's stores")]
    NotYours(String),
    #[error("an export is csv or xlsx, not {0:?}")]
    BadFormat(String),
    #[error("the report cannot be written: {0}")]
    Export(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ReportError {
    /// Whether the request itself was wrong (rather than the database failing).
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, ReportError::Store(_) | ReportError::Export(_))
    }
}

/// The name a report gives what belongs to no store.
pub const NO_STORE_NAME: &str = "Без магазина";

/// Builds a report.
pub fn report(store: &dyn Store, req: &ReportRequest<'_>) -> Result<Report, ReportError> {
    let (stores, rows) = store::read(store, |r| {
        let all = r.stores()?;
        let chosen = match choose(&all, req.stores) {
            Ok(chosen) => chosen,
            Err(e) => return Ok(Err(e)),
        };
        let start = req.period.first.and_time(chrono::NaiveTime::MIN).and_utc();
        let offsets: Vec<(String, i32)> = chosen
            .iter()
            .map(|s| {
                let offset = if s.id.is_empty() {
                    NO_STORE_OFFSET_MINUTES
                } else {
                    utc_offset_minutes(s, start)
                };
                (s.id.clone(), offset)
            })
            .collect();
        let rows = r.report_figures(&FigureQuery {
            stores: &offsets,
            first_day: req.period.first,
            last_day: req.period.last,
        })?;
        Ok(Ok((chosen, rows)))
    })??;
    let names: BTreeMap<&str, &str> = stores
        .iter()
        .map(|s| (s.id.as_str(), s.name.as_str()))
        .collect();
    let name_of = |id: &str| StoreName {
        id: id.to_string(),
        name: names.get(id).copied().unwrap_or(NO_STORE_NAME).to_string(),
    };
    let mut total = Figures::default();
    for r in &rows {
        total += r.figures;
    }
    let lines = match req.by {
        GroupBy::Day => {
            let mut by_day: BTreeMap<NaiveDate, Figures> =
                req.period.days().map(|d| (d, Figures::default())).collect();
            for r in &rows {
                *by_day.entry(r.day).or_default() += r.figures;
            }
            by_day
                .into_iter()
                .map(|(day, figures)| ReportLine {
                    day: Some(day),
                    store: None,
                    cashier: None,
                    figures,
                })
                .collect()
        }
        GroupBy::Store => {
            let mut by_store: BTreeMap<&str, Figures> = stores
                .iter()
                .filter(|s| !s.id.is_empty())
                .map(|s| (s.id.as_str(), Figures::default()))
                .collect();
            for r in &rows {
                *by_store.entry(r.store_id.as_str()).or_default() += r.figures;
            }
            by_store
                .into_iter()
                .map(|(id, figures)| ReportLine {
                    day: None,
                    store: Some(name_of(id)),
                    cashier: None,
                    figures,
                })
                .collect()
        }
        GroupBy::Cashier => {
            let mut by_cashier: BTreeMap<(&str, &str), Figures> = BTreeMap::new();
            for r in &rows {
                *by_cashier
                    .entry((r.store_id.as_str(), r.cashier.as_str()))
                    .or_default() += r.figures;
            }
            by_cashier
                .into_iter()
                .map(|((id, cashier), figures)| ReportLine {
                    day: None,
                    store: Some(name_of(id)),
                    cashier: Some(cashier.to_string()),
                    figures,
                })
                .collect()
        }
    };
    Ok(Report {
        period: req.period,
        by: req.by,
        lines,
        total,
    })
}

/// The stores a report covers: the ones asked for (each must exist), or every store and
/// the no-store part.
fn choose(all: &[StoreRow], wanted: Option<&[String]>) -> Result<Vec<StoreRow>, ReportError> {
    match wanted {
        Some(ids) => ids
            .iter()
            .map(|id| {
                all.iter()
                    .find(|s| &s.id == id)
                    .cloned()
                    .ok_or_else(|| ReportError::UnknownStore(id.clone()))
            })
            .collect(),
        None => {
            let mut chosen = all.to_vec();
            chosen.push(StoreRow {
                id: String::new(),
                name: NO_STORE_NAME.into(),
                utc_offset_minutes: NO_STORE_OFFSET_MINUTES,
                address: String::new(),
                time_zone: String::new(),
            });
            Ok(chosen)
        }
    }
}

/// The bonuses customers held at `at`, active and pending: of the customers whose home is
/// one of `stores`, when given (each must exist).
pub fn liability(
    store: &dyn Store,
    at: DateTime<Utc>,
    stores: Option<&[String]>,
) -> Result<Liability, ReportError> {
    store::read(store, |r| {
        if let Some(ids) = stores
            && let Err(e) = choose(&r.stores()?, Some(ids))
        {
            return Ok(Err(e));
        }
        Ok(Ok(r.liability(at, stores)?))
    })?
}

// --- The back office's requests -----------------------------------------------------------

/// A report as the back office asks for it: the dates and the grouping as text, at most
/// one store.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    pub from: &'a str,
    pub to: &'a str,
    /// `day` when left out.
    pub by: Option<&'a str>,
    pub store: Option<&'a str>,
}

/// The stores an actor's report covers: the one asked for (a store manager: one of
/// theirs), else all of theirs (`None` for the owner: the whole chain).
pub fn scope(actor: &Actor, store: Option<&str>) -> Result<Option<Vec<String>>, ReportError> {
    match (store, actor.store_filter()) {
        (Some(s), Some(mine)) if !mine.iter().any(|m| m == s) => {
            Err(ReportError::NotYours(s.to_string()))
        }
        (Some(s), _) => Ok(Some(vec![s.to_string()])),
        (None, mine) => Ok(mine.map(<[String]>::to_vec)),
    }
}

/// The report an actor asked for, within their stores.
pub fn report_for(
    store: &dyn Store,
    actor: &Actor,
    asked: &Asked<'_>,
) -> Result<Report, ReportError> {
    let period = Period::new(parse_date(asked.from)?, parse_date(asked.to)?)?;
    let by = asked.by.unwrap_or("day").parse()?;
    let stores = scope(actor, asked.store)?;
    report(
        store,
        &ReportRequest {
            period,
            by,
            stores: stores.as_deref(),
        },
    )
}

/// The liability an actor asked for: at the end of the day `at` (Moscow time), else at
/// `now`; of the customers of their stores.
pub fn liability_for(
    store: &dyn Store,
    actor: &Actor,
    at: Option<&str>,
    store_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<LiabilityView, ReportError> {
    let moment = match at {
        Some(day) => end_of_day(parse_date(day)?),
        None => now,
    };
    let stores = scope(actor, store_id)?;
    let owed = liability(store, moment, stores.as_deref())?;
    Ok(LiabilityView {
        at: moment,
        active: Bonus::from_kopecks(owed.active),
        pending: Bonus::from_kopecks(owed.pending),
        total: Bonus::from_kopecks(owed.active + owed.pending),
    })
}

fn figures_view(f: &Figures) -> ReportFigures {
    ReportFigures {
        receipts: f.receipts,
        revenue: Money::from_kopecks(f.revenue),
        discount: Money::from_kopecks(f.discount),
        accrued: Bonus::from_kopecks(f.accrued),
        spent: Bonus::from_kopecks(f.spent),
        burnt: Bonus::from_kopecks(f.burnt),
        returns: f.returns,
        returned: Money::from_kopecks(f.returned),
        refunded: Bonus::from_kopecks(f.refunded),
        clawed_back: Bonus::from_kopecks(f.clawed_back),
        new_customers: f.new_customers,
        processing_given: f.processing_given,
        processing_withdrawn: f.processing_withdrawn,
        advertising_given: f.advertising_given,
        advertising_withdrawn: f.advertising_withdrawn,
    }
}

/// A report on the wire.
pub fn view(report: &Report) -> ReportView {
    ReportView {
        from: report.period.first,
        to: report.period.last,
        by: match report.by {
            GroupBy::Day => ReportBy::Day,
            GroupBy::Store => ReportBy::Store,
            GroupBy::Cashier => ReportBy::Cashier,
        },
        lines: report
            .lines
            .iter()
            .map(|l| LineView {
                day: l.day,
                store_id: l.store.as_ref().map(|s| s.id.clone()),
                store_name: l.store.as_ref().map(|s| s.name.clone()),
                cashier: l.cashier.clone(),
                figures: figures_view(&l.figures),
            })
            .collect(),
        total: figures_view(&report.total),
    }
}

/// An export of a report: its bytes, media type and file name.
pub fn export_file(
    report: &Report,
    format: &str,
) -> Result<(Vec<u8>, &'static str, String), ReportError> {
    let name = format!(
        "report-{}-{}-{}",
        report.period.first, report.period.last, report.by
    );
    match format {
        "csv" => Ok((
            export::to_csv(report),
            "text/csv; charset=utf-8",
            format!("{name}.csv"),
        )),
        "xlsx" => Ok((export::to_xlsx(report)?, XLSX_TYPE, format!("{name}.xlsx"))),
        other => Err(ReportError::BadFormat(other.to_string())),
    }
}

/// The media type of an XLSX workbook.
pub const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
