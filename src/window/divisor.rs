//! Division by a number fixed when the window is built, without a `div` instruction: a
//! 64-bit division costs more than a clock read on some machines, and recording a call
//! needs two (the slot of a time, the bucket of a slot).

/// `n / d` and `n % d` by a multiply with a precomputed reciprocal and one correction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Divisor {
    d: u64,
    /// `floor((2^64 - 1) / d)`.
    m: u64,
}

impl Divisor {
    /// A divisor of `d` (at least 1).
    pub(crate) fn new(d: u64) -> Divisor {
        let d = d.max(1);
        Divisor { d, m: u64::MAX / d }
    }

    /// `(n / d, n % d)`.
    ///
    /// With `m = floor((2^64 - 1) / d)`, the estimate `floor(n * m / 2^64)` is the quotient
    /// or one less (its error is below `n / 2^64 < 1`), so one correction makes it exact
    /// for every `n`.
    #[inline]
    pub(crate) fn div_rem(self, n: u64) -> (u64, u64) {
        let q = ((u128::from(n) * u128::from(self.m)) >> 64) as u64;
        let r = n - q * self.d;
        if r >= self.d {
            (q + 1, r - self.d)
        } else {
            (q, r)
        }
    }

    #[inline]
    pub(crate) fn div(self, n: u64) -> u64 {
        self.div_rem(n).0
    }

    #[inline]
    pub(crate) fn rem(self, n: u64) -> u64 {
        self.div_rem(n).1
    }
}

#[cfg(all(test, not(breakerbox_loom)))]
mod tests {
    use super::*;

    #[test]
    fn matches_the_div_instruction() {
        let divisors = [
            1,
            2,
            3,
            7,
            10,
            64,
            1_000,
            6_000_000_000,
            u64::MAX / 3,
            u64::MAX,
        ];
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut numbers = vec![0, 1, 2, u64::MAX, u64::MAX - 1, 1 << 63];
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            numbers.push(x);
            numbers.push(x >> (x % 64));
        }
        for d in divisors {
            let div = Divisor::new(d);
            for &n in &numbers {
                for n in [
                    n,
                    n.wrapping_sub(n % d),
                    n.wrapping_sub(n % d).wrapping_sub(1),
                ] {
                    assert_eq!(div.div_rem(n), (n / d, n % d), "{n} / {d}");
                }
            }
        }
    }
}
