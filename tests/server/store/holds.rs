//! Holds on every engine: placed once by their id, refused past what is spendable less
//! other tills' holds, released, expired, consumed by the sale that names them, pruned; and
//! two tills racing for the last bonuses, of which exactly one gets them.

use super::*;
use bonuskassa::domain::money::Bonus;
use bonuskassa::protocol::server::{CalcRequest, HoldRequest, HoldResponse, HoldStatus};
use bonuskassa::server::LoadedRules;
use bonuskassa::server::holds::{self, HoldError};

fn hold(id: &str, customer: &str, amount: &str) -> HoldRequest {
    HoldRequest {
        id: id.into(),
        customer_id: customer.into(),
        amount: amount.parse().unwrap(),
        expires_in_s: 300,
    }
}

fn place(store: &dyn Store, t: usize, req: &HoldRequest, at: DateTime<Utc>) -> HoldResponse {
    holds::place(store, &terminal(t), req, at).unwrap()
}

/// What a lookup elsewhere shows as spendable.
fn looked_up(store: &dyn Store, phone: &str, at: DateTime<Utc>) -> Bonus {
    let req = LookupRequest {
        phone: Some(bonuskassa::protocol::server::Secret(phone.into())),
        ..Default::default()
    };
    store::read(store, |r| {
        Ok(customers::lookup(r, &rules(), &req, at).unwrap().balance)
    })
    .unwrap()
}

/// The most a calculation lets this sale spend (`hold`: its own hold, not counted).
fn max_spend(store: &dyn Store, customer: &str, hold: Option<&str>, at: DateTime<Utc>) -> Bonus {
    let loaded = LoadedRules {
        version: 1,
        text: admin::DEMO_RULES.into(),
        rules: rules(),
    };
    let req = CalcRequest {
        customer_id: customer.into(),
        receipt: serde_json::from_value(sale_receipt("calc", "5000.00")).unwrap(),
        spend: Bonus::ZERO,
        hold: hold.map(String::from),
    };
    store::read(store, |r| {
        Ok(customers::calculate(r, &loaded, &req, at)
            .unwrap()
            .calculation
            .max_spend)
    })
    .unwrap()
}

fn id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[test]
fn a_hold_is_placed_once_counts_elsewhere_and_ends_by_release_expiry_or_its_sale() {
    for engine in engines() {
        let (_db, store) = demo(engine);
        let store = &*store;
        let phone = "+79990000001";
        let karina = customer_id(store, phone); // 500 bonuses
        assert_eq!(looked_up(store, phone, t0()), Bonus::from_kopecks(50_000));

        // Placed: 300 held, 200 left for everyone else.
        let first = id();
        let h = place(store, 1, &hold(&first, &karina, "300"), t0());
        assert_eq!(h.status, HoldStatus::Live, "{engine}");
        assert_eq!(h.balance, Bonus::from_kopecks(20_000), "{engine}");
        assert_eq!(h.expires_at, t0() + Span::seconds(300), "{engine}");
        assert_eq!(looked_up(store, phone, t0()), Bonus::from_kopecks(20_000));
        // The till recalculating its own sale still sees its 300; another sees 200.
        assert_eq!(
            max_spend(store, &karina, Some(&first), t0()),
            Bonus::from_kopecks(50_000)
        );
        assert_eq!(
            max_spend(store, &karina, None, t0()),
            Bonus::from_kopecks(20_000)
        );
        // The ledger itself is untouched: a hold is no spend.
        assert_eq!(balance(store, &karina, t0()), 50_000, "{engine}");

        // The same hold again answers the same, a minute later too; no second 300 is held.
        let again = place(
            store,
            1,
            &hold(&first, &karina, "300"),
            t0() + Span::minutes(1),
        );
        assert_eq!(
            (again.id.as_str(), again.amount),
            (first.as_str(), h.amount)
        );
        assert_eq!(again.expires_at, h.expires_at, "{engine}");
        assert_eq!(again.balance, Bonus::from_kopecks(20_000), "{engine}");
        // The id with another amount, customer or till is refused, naming the id.
        for (t, req) in [
            (1, hold(&first, &karina, "100")),
            (1, hold(&first, &customer_id(store, "+79990000002"), "300")),
            (2, hold(&first, &karina, "300")),
        ] {
            match holds::place(store, &terminal(t), &req, t0()) {
                Err(e @ HoldError::Conflict { .. }) => {
                    assert!(e.to_string().contains(&first), "{engine}: {e}")
                }
                other => panic!("{engine}: expected a conflict, got {other:?}"),
            }
        }

        // More than is left after the hold is refused, with what is left.
        let second = id();
        match holds::place(store, &terminal(2), &hold(&second, &karina, "250"), t0()) {
            Err(HoldError::Insufficient { available }) => assert_eq!(available, 20_000),
            other => panic!("{engine}: expected insufficient, got {other:?}"),
        }
        // Bad input is named, never a panic.
        for (req, field) in [
            (hold("not-a-uuid", &karina, "10"), "id"),
            (hold(&id(), &karina, "0"), "amount"),
            (hold(&id(), &karina, "-5"), "amount"),
            (
                HoldRequest {
                    expires_in_s: 0,
                    ..hold(&id(), &karina, "10")
                },
                "expires_in_s",
            ),
        ] {
            match holds::place(store, &terminal(2), &req, t0()) {
                Err(HoldError::BadRequest(m)) => assert!(m.starts_with(field), "{m}"),
                other => panic!("{engine}: expected a bad request on {field}, got {other:?}"),
            }
        }
        assert!(matches!(
            holds::place(store, &terminal(2), &hold(&id(), "nobody", "10"), t0()),
            Err(HoldError::CustomerNotFound)
        ));

        // Released (the sale was cancelled): it all counts again; releasing twice is the same,
        // another till cannot release it, an unknown id is nothing to release.
        assert!(matches!(
            holds::release(store, &terminal(2), &first, t0()),
            Err(HoldError::NotFound)
        ));
        let r = holds::release(store, &terminal(1), &first, t0())
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.status, r.balance),
            (HoldStatus::Released, Bonus::from_kopecks(50_000))
        );
        let r = holds::release(store, &terminal(1), &first, t0())
            .unwrap()
            .unwrap();
        assert_eq!(r.status, HoldStatus::Released, "{engine}");
        assert!(
            holds::release(store, &terminal(1), &id(), t0())
                .unwrap()
                .is_none()
        );
        assert_eq!(looked_up(store, phone, t0()), Bonus::from_kopecks(50_000));

        // Expired: stops counting by itself at its expiry.
        let third = id();
        place(store, 1, &hold(&third, &karina, "400"), t0());
        assert_eq!(
            looked_up(store, phone, t0() + Span::seconds(299)),
            Bonus::from_kopecks(10_000)
        );
        assert_eq!(
            looked_up(store, phone, t0() + Span::seconds(300)),
            Bonus::from_kopecks(50_000)
        );
        // Another till may take the bonuses once it expired.
        let fourth = id();
        let h = place(
            store,
            2,
            &hold(&fourth, &karina, "150"),
            t0() + Span::seconds(301),
        );
        assert_eq!(h.balance, Bonus::from_kopecks(35_000), "{engine}");

        // Consumed by its sale: the sale spends its own hold; nothing is counted twice.
        let sale = serde_json::from_value::<Operation>(json!({
            "id": fourth, "seq": 1, "at": t0(), "cashier": "Кассир Мария", "cashier_id": 1,
            "body": { "kind": "sale", "customer_id": karina, "spend": "150", "hold": fourth,
                      "receipt": sale_receipt("h-1", "1000.00") } }))
        .unwrap();
        let at = t0() + Span::seconds(302);
        let r = ops::apply_batch(store, &rules(), &terminal(2), vec![sale], || at).unwrap();
        assert_eq!(r[0].status, OperationStatus::Applied, "{engine}: {r:?}");
        // 500 − 150 spent + 17 accrued + the 100 first-purchase gift, and no hold left over
        // them: the lookup shows the ledger's balance, the 150 taken once.
        let after = balance(store, &karina, at);
        assert_eq!(after, 46_700, "{engine}");
        assert_eq!(
            looked_up(store, phone, at),
            Bonus::from_kopecks(after),
            "{engine}"
        );
        let r = holds::release(store, &terminal(2), &fourth, at)
            .unwrap()
            .unwrap();
        assert_eq!(
            r.status,
            HoldStatus::Consumed,
            "{engine}: a consumed hold stays consumed"
        );

        // A sale without a hold cannot spend what another till holds, nor one naming the
        // other till's hold as its own; and such a sale does not consume that hold.
        let fifth = id();
        let h = place(store, 1, &hold(&fifth, &karina, "100"), at);
        let left = h.balance.kopecks();
        let over = format!("{}", Bonus::from_kopecks(left + 100));
        for (seq, named) in [(2, None), (3, Some(&fifth))] {
            let mut body = json!({ "kind": "sale", "customer_id": karina, "spend": over,
                                   "receipt": sale_receipt(&format!("h-{seq}"), "5000.00") });
            if let Some(named) = named {
                body["hold"] = json!(named);
            }
            let r = ops::apply_batch(store, &rules(), &terminal(3), vec![op(seq, body)], || at)
                .unwrap();
            assert_eq!(
                r[0].reason,
                Some(RejectReason::InsufficientBalance),
                "{engine}: {r:?}"
            );
        }
        let still = store::read(store, |r| r.hold(&fifth)).unwrap().unwrap();
        assert_eq!(
            still.state,
            bonuskassa::server::store::HoldState::Live,
            "{engine}"
        );

        // Pruned a day after they ended or expired; live ones stay.
        store::write(store, |tx| holds::prune(tx, at + Span::hours(1))).unwrap();
        assert!(store::read(store, |r| r.hold(&fifth)).unwrap().is_some());
        let gone = store::write(store, |tx| holds::prune(tx, at + Span::days(2))).unwrap();
        assert!(gone >= 4, "{engine}: {gone}");
        assert!(store::read(store, |r| r.hold(&first)).unwrap().is_none());
    }
}

#[test]
fn two_holds_racing_for_the_last_bonuses_place_exactly_one() {
    for engine in engines() {
        let before = store::conflicts_retried();
        let (_db, store) = demo(engine);
        let karina = customer_id(&*store, "+79990000001"); // 500 bonuses
        // Eight tills hold 300 of the 500 at once: only one can.
        let ids: Vec<String> = (0..8).map(|_| id()).collect();
        let results = at_once(8, |i| {
            holds::place(
                &*store,
                &terminal(20 + i),
                &hold(&ids[i], &karina, "300"),
                t0(),
            )
        });
        let placed: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(placed.len(), 1, "{engine}: {results:?}");
        assert_eq!(placed[0].balance, Bonus::from_kopecks(20_000), "{engine}");
        assert!(
            results
                .iter()
                .filter_map(|r| r.as_ref().err())
                .all(|e| matches!(e, HoldError::Insufficient { available: 20_000 })),
            "{engine}: {results:?}"
        );
        // The same hold placed from many connections at once is one hold.
        let same = id();
        let results = at_once(6, |_| {
            holds::place(&*store, &terminal(30), &hold(&same, &karina, "100"), t0())
        });
        assert!(
            results
                .iter()
                .all(|r| r.as_ref().is_ok_and(|h| h.id == same)),
            "{results:?}"
        );
        let held = store::read(&*store, |r| r.held(&karina, t0(), None)).unwrap();
        assert_eq!(held, 40_000, "{engine}");
        check_retries_on_a_serializable_cluster(engine, before);
    }
}
