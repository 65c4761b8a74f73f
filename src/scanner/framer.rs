//! Cuts the byte stream of a serial scanner into codes. A serial port delivers whatever has
//! arrived when it is read — half a code, or two and a bit — so the codes are found by their
//! terminator. Pure: no IO, no clock; the reader decides when the line has been idle.
//!
//! The stream is untrusted (a misconfigured scanner, line noise): memory is bounded by the
//! longest code, an overlong code is reported once and skipped up to its terminator, and
//! the framer is back in step for the next code.

use super::settings::Terminator;
use crate::domain::scan::MAX_PAYLOAD_BYTES;

/// The longest code a frame may hold: what [`crate::domain::scan::ScanPayload::parse`]
/// accepts (SPEC.md §7: QR codes up to 512 bytes).
pub const MAX_FRAME: usize = MAX_PAYLOAD_BYTES;

/// A frame the framer could not deliver. Never quotes the bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error(
        "scanned code is longer than {max} bytes and was dropped: if every scan does this, \
         the scanner ends its codes with another character than the terminator set (try \"any\")"
    )]
    TooLong { max: usize },
}

/// A stateful cutter of scanner bytes into frames (codes without their terminator).
#[derive(Debug, Clone)]
pub struct Framer {
    terminator: Terminator,
    max_len: usize,
    frame: Vec<u8>,
    /// The rest of an overlong frame is being skipped up to its terminator.
    skipping: bool,
    /// `CrLf` only: a `\r` arrived and the next byte says whether it ends the frame.
    pending_cr: bool,
}

impl Framer {
    /// A framer for codes ending with `terminator`, at most `max_len` bytes long (at least 1).
    pub fn new(terminator: Terminator, max_len: usize) -> Framer {
        Framer {
            terminator,
            max_len: max_len.max(1),
            frame: Vec::new(),
            skipping: false,
            pending_cr: false,
        }
    }

    /// Feeds bytes as they came off the line; returns the frames they completed, in order.
    /// Empty frames (the `\n` of a `\r\n` under [`Terminator::Any`], stray terminators)
    /// are skipped.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Result<Vec<u8>, FrameError>> {
        let mut out = Vec::new();
        for &byte in bytes {
            if self.terminator == Terminator::CrLf {
                if self.pending_cr {
                    self.pending_cr = false;
                    if byte == b'\n' {
                        self.end_frame(&mut out);
                        continue;
                    }
                    // The `\r` was part of the code after all.
                    self.data(b'\r', &mut out);
                }
                if byte == b'\r' {
                    self.pending_cr = true;
                } else {
                    self.data(byte, &mut out);
                }
                continue;
            }
            if self.ends_frame(byte) {
                self.end_frame(&mut out);
            } else {
                self.data(byte, &mut out);
            }
        }
        out
    }

    /// The line went quiet in the middle of a frame: hands over what has arrived, as for a
    /// scanner that sends no terminator at all (or another one than configured). An
    /// overlong frame being skipped ends here, without another error. `None` if nothing is
    /// pending.
    pub fn flush_idle(&mut self) -> Option<Result<Vec<u8>, FrameError>> {
        if std::mem::take(&mut self.pending_cr) {
            let mut out = Vec::new();
            self.data(b'\r', &mut out);
            if let Some(error) = out.pop() {
                self.skipping = false;
                return Some(error);
            }
        }
        self.skipping = false;
        (!self.frame.is_empty()).then(|| Ok(std::mem::take(&mut self.frame)))
    }

    /// Whether part of a frame is waiting for its terminator (or being skipped).
    pub fn is_pending(&self) -> bool {
        !self.frame.is_empty() || self.skipping || self.pending_cr
    }

    /// Forgets a partial frame, e.g. when the port was lost in the middle of one.
    pub fn reset(&mut self) {
        self.frame.clear();
        self.skipping = false;
        self.pending_cr = false;
    }

    fn ends_frame(&self, byte: u8) -> bool {
        match self.terminator {
            Terminator::Cr => byte == b'\r',
            Terminator::Lf => byte == b'\n',
            Terminator::Tab => byte == b'\t',
            Terminator::Any => byte == b'\r' || byte == b'\n',
            Terminator::CrLf => false,
        }
    }

    fn end_frame(&mut self, out: &mut Vec<Result<Vec<u8>, FrameError>>) {
        if std::mem::take(&mut self.skipping) {
            return;
        }
        if !self.frame.is_empty() {
            out.push(Ok(std::mem::take(&mut self.frame)));
        }
    }

    fn data(&mut self, byte: u8, out: &mut Vec<Result<Vec<u8>, FrameError>>) {
        if self.skipping {
            return;
        }
        if self.frame.len() == self.max_len {
            self.frame = Vec::new();
            self.skipping = true;
            out.push(Err(FrameError::TooLong { max: self.max_len }));
            return;
        }
        self.frame.push(byte);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(t: Terminator, chunks: &[&[u8]]) -> Vec<Result<Vec<u8>, FrameError>> {
        let mut framer = Framer::new(t, 8);
        chunks.iter().flat_map(|c| framer.push(c)).collect()
    }

    fn ok(s: &str) -> Result<Vec<u8>, FrameError> {
        Ok(s.as_bytes().to_vec())
    }

    #[test]
    fn any_takes_cr_lf_and_crlf_and_skips_empty_frames() {
        assert_eq!(
            frames(Terminator::Any, &[b"\r\n12", b"3\r", b"\n456\n\n789\r\n"]),
            vec![ok("123"), ok("456"), ok("789")]
        );
    }

    #[test]
    fn crlf_keeps_a_lone_cr_and_survives_a_split_between_cr_and_lf() {
        assert_eq!(
            frames(Terminator::CrLf, &[b"1\r2\r", b"\n3\r\r", b"\n"]),
            vec![ok("1\r2"), ok("3\r")]
        );
    }

    #[test]
    fn single_byte_terminators_leave_the_others_in_the_code() {
        assert_eq!(frames(Terminator::Cr, &[b"1\n2\r"]), vec![ok("1\n2")]);
        assert_eq!(frames(Terminator::Lf, &[b"1\r2\n"]), vec![ok("1\r2")]);
        assert_eq!(
            frames(Terminator::Tab, &[b"1\r\n2\t\t"]),
            vec![ok("1\r\n2")]
        );
    }

    #[test]
    fn an_overlong_frame_is_one_error_and_the_next_frame_is_whole() {
        assert_eq!(
            frames(
                Terminator::Any,
                &[b"12345678", b"9abcdef", b"ghij\r1234", b"5678\r"]
            ),
            vec![Err(FrameError::TooLong { max: 8 }), ok("12345678")]
        );
        assert_eq!(
            frames(Terminator::CrLf, &[b"12345678\r\n", b"12345678\r", b"\n"]),
            vec![ok("12345678"), ok("12345678")]
        );
        assert_eq!(
            frames(Terminator::CrLf, &[b"12345678\r9\r\nok\r\n"]),
            vec![Err(FrameError::TooLong { max: 8 }), ok("ok")]
        );
    }

    #[test]
    fn idle_hands_over_a_partial_frame_and_ends_skipping() {
        let mut framer = Framer::new(Terminator::Cr, 4);
        assert!(framer.push(b"12").is_empty());
        assert!(framer.is_pending());
        assert_eq!(framer.flush_idle(), Some(ok("12")));
        assert_eq!(framer.flush_idle(), None);
        assert!(!framer.is_pending());

        assert_eq!(
            framer.push(b"123456"),
            vec![Err(FrameError::TooLong { max: 4 })]
        );
        assert_eq!(framer.flush_idle(), None);
        assert_eq!(framer.push(b"78\r"), vec![ok("78")]);

        let mut framer = Framer::new(Terminator::CrLf, 4);
        assert!(framer.push(b"12\r").is_empty());
        assert_eq!(framer.flush_idle(), Some(ok("12\r")));
        assert!(framer.push(b"1234\r").is_empty());
        assert_eq!(
            framer.flush_idle(),
            Some(Err(FrameError::TooLong { max: 4 }))
        );
        assert_eq!(framer.push(b"5\r\n"), vec![ok("5")]);
    }
}
