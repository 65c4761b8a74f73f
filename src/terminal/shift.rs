//! The till's loyalty shift: opened and closed with the register's own shift (through the
//! bridge) or by a manager, and its report read from what the till recorded
//! (`store::shifts` has the rules of which operations a shift counts).
use super::{Terminal, TerminalError};
use crate::store::{ShiftBy, ShiftClose, ShiftOpen, ShiftReport};

impl Terminal {
    /// Opens the till's shift, or answers the one open already; `who`: the manager.
    pub fn open_shift(&self, by: ShiftBy, who: Option<&str>) -> Result<ShiftOpen, TerminalError> {
        Ok(self.store().open_shift(by, who, self.now())?)
    }

    /// Closes the till's shift and returns its final report.
    pub fn close_shift(&self, by: ShiftBy, who: Option<&str>) -> Result<ShiftClose, TerminalError> {
        Ok(self.store().close_shift(by, who, self.now())?)
    }

    /// The report of the shift under way.
    pub fn shift_report(&self) -> Result<ShiftReport, TerminalError> {
        Ok(self.store().current_shift_report(self.now())?)
    }
}
