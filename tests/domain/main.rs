//! The domain's properties, one binary, with no server and no window: the bonus
//! calculation and returns, phone, card and scan identifiers, and that logs mask personal
//! data (`logging` sets its subscriber for its own thread only, `with_default`).

mod calc_props;
mod identifiers_props;
mod logging;
