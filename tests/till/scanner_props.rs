//! Properties of the scanner framer: however the serial port chops the stream, the codes
//! come out whole and in order; no bytes make it panic; an overlong code never costs the
//! next one.

use bonuskassa::scanner::{FrameError, Framer, MAX_FRAME, Terminator};
use proptest::prelude::*;

/// Turns any bytes into a code for `t`: its terminator bytes become `x`.
fn sanitize(t: Terminator, mut code: Vec<u8>) -> Vec<u8> {
    let mut prev = 0;
    for b in &mut code {
        let end = match t {
            Terminator::Cr => *b == b'\r',
            Terminator::Lf => *b == b'\n',
            Terminator::Tab => *b == b'\t',
            Terminator::Any => *b == b'\r' || *b == b'\n',
            // A lone CR or LF is part of a code; only the pair ends one.
            Terminator::CrLf => *b == b'\n' && prev == b'\r',
        };
        if end {
            *b = b'x';
        }
        prev = *b;
    }
    code
}

/// Codes biased towards the bytes that matter (terminators, digits) and of any length up
/// to `max`.
fn codes(t: Terminator, max: usize) -> impl Strategy<Value = Vec<Vec<u8>>> {
    let byte = prop_oneof![
        3 => prop::sample::select(b"0123456789\r\n\t".to_vec()),
        1 => any::<u8>(),
    ];
    prop::collection::vec(
        prop::collection::vec(byte, 1..=max).prop_map(move |c| sanitize(t, c)),
        0..8,
    )
}

fn terminator() -> impl Strategy<Value = Terminator> {
    prop::sample::select(Terminator::ALL.to_vec())
}

/// The bytes a scanner sends after a code; under `Any`, each of CR, LF and CRLF.
fn suffix(t: Terminator, pick: u8) -> &'static [u8] {
    match t {
        Terminator::Cr => b"\r",
        Terminator::Lf => b"\n",
        Terminator::Tab => b"\t",
        Terminator::CrLf => b"\r\n",
        Terminator::Any => [&b"\r"[..], b"\n", b"\r\n"][usize::from(pick % 3)],
    }
}

/// Cuts `stream` at the given points (taken modulo its length) and feeds the pieces.
fn feed(framer: &mut Framer, stream: &[u8], cuts: &[usize]) -> Vec<Result<Vec<u8>, FrameError>> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    cuts.push(0);
    cuts.push(stream.len());
    cuts.sort_unstable();
    cuts.windows(2)
        .flat_map(|w| framer.push(&stream[w[0]..w[1]]))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn codes_come_out_whole_however_the_stream_is_chopped(
        (t, codes) in terminator().prop_flat_map(|t| (Just(t), codes(t, 40))),
        picks in prop::collection::vec(any::<u8>(), 8),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut stream = Vec::new();
        for (code, pick) in codes.iter().zip(&picks) {
            stream.extend_from_slice(code);
            stream.extend_from_slice(suffix(t, *pick));
        }
        let mut framer = Framer::new(t, 40);
        let got = feed(&mut framer, &stream, &cuts);
        let want: Vec<Result<Vec<u8>, FrameError>> = codes.into_iter().map(Ok).collect();
        prop_assert_eq!(got, want);
        prop_assert!(!framer.is_pending());
        prop_assert_eq!(framer.flush_idle(), None);
    }

    #[test]
    fn any_bytes_never_panic_and_frames_stay_bounded(
        t in terminator(),
        max in 1usize..=64,
        stream in prop::collection::vec(any::<u8>(), 0..600),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut framer = Framer::new(t, max);
        for frame in feed(&mut framer, &stream, &cuts).into_iter().chain(framer.flush_idle()) {
            match frame {
                Ok(code) => prop_assert!(!code.is_empty() && code.len() <= max),
                Err(e) => prop_assert_eq!(e, FrameError::TooLong { max }),
            }
        }
        prop_assert!(!framer.is_pending());
    }

    #[test]
    fn after_an_overlong_code_the_next_one_comes_out(
        (t, good) in terminator().prop_flat_map(|t| (Just(t), codes(t, 64))),
        extra in 1usize..600,
        pick in any::<u8>(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        // An overlong code of digits, then the good ones.
        let mut stream = vec![b'7'; MAX_FRAME + extra];
        stream.extend_from_slice(suffix(t, pick));
        for code in &good {
            stream.extend_from_slice(code);
            stream.extend_from_slice(suffix(t, pick));
        }
        let mut framer = Framer::new(t, MAX_FRAME);
        let got = feed(&mut framer, &stream, &cuts);
        let mut want = vec![Err(FrameError::TooLong { max: MAX_FRAME })];
        want.extend(good.into_iter().map(Ok));
        prop_assert_eq!(got, want);
    }
}

#[test]
fn a_code_of_exactly_the_limit_passes_and_one_byte_more_does_not() {
    let mut framer = Framer::new(Terminator::Any, MAX_FRAME);
    let mut stream = vec![b'1'; MAX_FRAME];
    stream.extend_from_slice(b"\r\n");
    stream.extend_from_slice(&[b'2'; MAX_FRAME + 1]);
    stream.extend_from_slice(b"\r\n");
    assert_eq!(
        framer.push(&stream),
        vec![
            Ok(vec![b'1'; MAX_FRAME]),
            Err(FrameError::TooLong { max: MAX_FRAME })
        ]
    );
}
