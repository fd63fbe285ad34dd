//! Test helpers: a small deterministic generator of strings built from given pieces, for the
//! randomized tests of the parsers (no external crates, reproducible runs).

/// xorshift64*: deterministic and good enough to mix pieces.
pub(crate) struct Pieces {
    state: u64,
    pieces: &'static [&'static str],
}

impl Pieces {
    /// A generator drawing from `pieces`, seeded with `seed` (not zero).
    pub(crate) fn new(seed: u64, pieces: &'static [&'static str]) -> Pieces {
        Pieces {
            state: seed | 1,
            pieces,
        }
    }

    fn next(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (which must not be zero).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// `count` pieces, concatenated.
    pub(crate) fn take(&mut self, count: usize) -> String {
        let mut out = String::new();
        for _ in 0..count {
            let i = self.below(self.pieces.len() as u64) as usize;
            out.push_str(self.pieces[i]);
        }
        out
    }
}
