//! Card statuses on every engine: the trace of a change, a change only from the status
//! the caller saw, one `keep` drop per customer and day however many nodes review, the
//! review's chunked walk, and a status set by hand checked against the active rules.

use super::*;
use bonuskassa::server::statuses::{self, StatusError};
use bonuskassa::server::store::{NewStatusChange, StatusCause};

fn drop_on<'a>(id: &'a str, from: &'a str, to: &'a str, day: u32) -> NewStatusChange<'a> {
    NewStatusChange {
        customer_id: id,
        from,
        to,
        cause: StatusCause::Keep,
        actor: None,
        reason: "",
        at: t0(),
        review_day: chrono::NaiveDate::from_ymd_opt(2026, 11, day),
    }
}

fn status_of(store: &dyn Store, id: &str) -> String {
    store::read(store, |r| r.customer(CustomerKey::Id(id)))
        .unwrap()
        .unwrap()
        .card_status
}

#[test]
fn a_status_changes_only_from_what_the_caller_saw_and_drops_once_a_day() {
    for engine in engines() {
        let (_db, store) = demo(engine);
        let gold = customer_id(&*store, "+79990000003");
        let change = |c: &NewStatusChange<'_>| {
            store::write(&*store, |tx| {
                tx.lock_customers(&[c.customer_id])?;
                tx.change_card_status(c)
            })
            .unwrap()
        };
        assert!(!change(&drop_on(&gold, "Серебряная", "Стандартная", 23)));
        assert_eq!(status_of(&*store, &gold), "Золотая", "{engine}");
        assert!(change(&drop_on(&gold, "Золотая", "Серебряная", 23)));
        assert!(
            !change(&drop_on(&gold, "Серебряная", "Стандартная", 23)),
            "{engine}: a second drop on the same day is refused"
        );
        assert_eq!(status_of(&*store, &gold), "Серебряная", "{engine}");
        assert!(change(&drop_on(&gold, "Серебряная", "Стандартная", 24)));
        let by_hand = NewStatusChange {
            cause: StatusCause::Manual,
            actor: Some("owner@example.test"),
            reason: "Сотрудник сети",
            review_day: None,
            ..drop_on(&gold, "Стандартная", "Золотая", 1)
        };
        assert!(change(&by_hand));
        let trace = store::read(&*store, |r| r.status_changes(&gold)).unwrap();
        let seen: Vec<_> = trace
            .iter()
            .map(|c| (c.from.as_str(), c.to.as_str(), c.cause))
            .collect();
        assert_eq!(
            seen,
            [
                ("Стандартная", "Золотая", StatusCause::Manual),
                ("Серебряная", "Стандартная", StatusCause::Keep),
                ("Золотая", "Серебряная", StatusCause::Keep),
            ],
            "{engine}: newest first"
        );
        assert_eq!(trace[0].actor.as_deref(), Some("owner@example.test"));
        assert_eq!(trace[0].reason, "Сотрудник сети");
        assert_eq!(trace[0].at, t0());
    }
}

#[test]
fn customers_with_a_status_come_in_id_order_a_chunk_at_a_time() {
    for engine in engines() {
        let (_db, store) = demo(engine);
        let mut want: Vec<String> = ["+79990000001", "+79990000004"]
            .map(|p| customer_id(&*store, p))
            .into();
        want.sort();
        let first = store::read(&*store, |r| {
            r.customers_with_status(&["Стандартная"], "", 1)
        })
        .unwrap();
        assert_eq!(
            first,
            [(want[0].clone(), "Стандартная".to_string())],
            "{engine}"
        );
        let rest = store::read(&*store, |r| {
            r.customers_with_status(&["Стандартная", "Платиновая"], &want[0], 10)
        })
        .unwrap();
        assert_eq!(
            rest,
            [(want[1].clone(), "Стандартная".to_string())],
            "{engine}"
        );
    }
}

#[test]
fn the_keep_review_drops_one_level_once_and_bumps_the_feed() {
    for engine in engines() {
        let (_db, store) = demo(engine);
        let silver = customer_id(&*store, "+79990000002");
        // The demo customers registered at t0: Серебряная is judged after its 90 days.
        let early = t0() + Span::days(89);
        assert_eq!(statuses::review(&*store, &rules(), early).unwrap(), 0);
        let later = t0() + Span::days(90);
        let (_, last) = store::read(&*store, |r| r.feed(0, 1000, later)).unwrap();
        assert_eq!(statuses::review(&*store, &rules(), later).unwrap(), 1);
        assert_eq!(statuses::review(&*store, &rules(), later).unwrap(), 0);
        assert_eq!(status_of(&*store, &silver), "Стандартная", "{engine}");
        let (after, _) = store::read(&*store, |r| r.feed(last, 1000, later)).unwrap();
        let moved: Vec<_> = after.iter().map(|f| f.customer.id.as_str()).collect();
        assert_eq!(
            moved,
            [silver.as_str()],
            "{engine}: the tills learn the new status"
        );
        // Золотая has no keep condition; Стандартная is the lowest.
        let gold = customer_id(&*store, "+79990000003");
        assert_eq!(status_of(&*store, &gold), "Золотая");
    }
}

#[test]
fn a_status_set_by_hand_must_be_in_the_active_rules_and_is_traced() {
    for engine in engines() {
        let (_db, store) = demo(engine);
        let anna = customer_id(&*store, "+79990000004");
        let set = |status: &str, reason: &str| {
            statuses::set_card_status(&*store, "owner@example.test", &anna, status, reason, t0())
        };
        assert!(matches!(
            set("Платиновая", "Подарок"),
            Err(StatusError::UnknownStatus(s)) if s == "Платиновая"
        ));
        assert!(matches!(set("Золотая", "  "), Err(StatusError::NoReason)));
        assert!(matches!(
            set("Стандартная", "Подарок"),
            Err(StatusError::Unchanged(_))
        ));
        assert!(matches!(
            statuses::set_card_status(&*store, "o", "no-such-id", "Золотая", "x", t0()),
            Err(StatusError::NoCustomer(_))
        ));
        let done = set("Золотая", "Компенсация за ошибку кассы").unwrap();
        assert_eq!(
            (done.from.as_str(), done.to.as_str()),
            ("Стандартная", "Золотая")
        );
        assert_eq!(status_of(&*store, &anna), "Золотая", "{engine}");
        let trace = store::read(&*store, |r| r.status_changes(&anna)).unwrap();
        assert_eq!(trace.len(), 1, "{engine}");
        assert_eq!(trace[0].cause, StatusCause::Manual);
        assert_eq!(trace[0].reason, "Компенсация за ошибку кассы");
        let history = store::read(&*store, |r| r.history(&anna, 100)).unwrap();
        assert!(
            history.iter().all(|h| h.amount != 0),
            "{engine}: no zero ledger line: {history:?}"
        );
    }
}
