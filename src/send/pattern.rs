//! The data bulk mode sends: a pseudo-random block whose length is prime, repeated. Any byte's
//! expected value follows from its offset alone, so the echo is checked without keeping what was
//! sent, and an echo that is shifted, stale or from another stream never matches.

use bytes::Bytes;

/// A prime just under 1 MiB: no shift of a whole number of chunks lines the pattern up again.
const PERIOD: usize = 1_048_573;

pub struct Pattern {
    /// The block twice over, so that any `PERIOD`-long window is one contiguous slice.
    doubled: Bytes,
}

impl Pattern {
    pub fn new() -> Self {
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let block: Vec<u8> = (0..PERIOD)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        let mut doubled = block.clone();
        doubled.extend_from_slice(&block);
        Self {
            doubled: doubled.into(),
        }
    }

    /// Where stream number `stream` starts in the pattern.
    pub fn start(stream: u32) -> u64 {
        u64::from(stream) * 7919
    }

    /// `len` (at most `PERIOD`) bytes of the stream from `offset` on, without copying.
    pub fn slice(&self, offset: u64, len: usize) -> Bytes {
        let at = (offset % PERIOD as u64) as usize;
        self.doubled.slice(at..at + len.min(PERIOD))
    }

    /// Checks `data` received at `offset`; returns the offset of the first wrong byte.
    pub fn check(&self, offset: u64, data: &[u8]) -> Result<(), u64> {
        let mut done = 0;
        while done < data.len() {
            let len = (data.len() - done).min(PERIOD);
            let expected = self.slice(offset + done as u64, len);
            let got = &data[done..done + len];
            if got != &expected[..] {
                let at = got
                    .iter()
                    .zip(&expected[..])
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                return Err(offset + (done + at) as u64);
            }
            done += len;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn checks_what_it_sent_and_catches_shifts() {
        // Imported here, not for the module: benches/echo.rs includes this file in a target
        // without a test harness, where the test and an outer import would be left unused.
        use super::*;
        let pattern = Pattern::new();
        let sent = pattern.slice(5, 4096);
        assert_eq!(pattern.check(5, &sent), Ok(()));
        assert!(pattern.check(6, &sent).is_err(), "shifted by one");
        let mut bad = sent.to_vec();
        bad[100] ^= 1;
        assert_eq!(pattern.check(5, &bad), Err(105));
        // Across the period boundary, and longer than a period.
        let long: Vec<u8> = (0..3)
            .flat_map(|i| pattern.slice(PERIOD as u64 * i + 10, PERIOD).to_vec())
            .collect();
        assert_eq!(pattern.check(10, &long), Ok(()));
    }
}
