//! Times stamped with the epoch they belong to, in one `u64`: the low 16 bits of the epoch
//! and a 48-bit time, so a reader can tell a value of the current epoch from one the
//! transition winner has not yet replaced.
//!
//! The 48-bit time field is microseconds for the first 2^47 µs (4.4 years) after the
//! clock's origin and units of 2^17 ns (131 µs) beyond, up to the end of a `u64` of
//! nanoseconds: a deadline or a since-time is never wrapped or clamped to a time before it
//! was set, whatever the clock reads. Stored times round down, so a deadline is at most
//! 1 µs early (131 µs beyond 4.4 years).

/// The time field's "no time" value (an Open or ForcedOpen state without a deadline).
const NO_TIME: u64 = (1 << 48) - 1;
/// Time codes at or above this are coarse: `COARSE | nanos >> COARSE_SHIFT`.
const COARSE: u64 = 1 << 47;
const COARSE_SHIFT: u32 = 17;

fn encode(nanos: u64) -> u64 {
    let micros = nanos / 1_000;
    if micros < COARSE {
        micros
    } else {
        // At most `NO_TIME - 1`: a real time is never read back as "no time".
        COARSE | (nanos >> COARSE_SHIFT).min(COARSE - 2)
    }
}

fn decode(code: u64) -> u64 {
    if code < COARSE {
        code * 1_000
    } else {
        (code - COARSE) << COARSE_SHIFT
    }
}

/// `time_nanos` (or "no time") stamped with `epoch`.
pub(super) fn stamp(epoch: u64, time_nanos: Option<u64>) -> u64 {
    let time = time_nanos.map_or(NO_TIME, encode);
    ((epoch & 0xFFFF) << 48) | time
}

/// `Err(())` when the stamp belongs to another epoch; `Ok(None)` for "no time".
pub(super) fn unstamp(word: u64, epoch: u64) -> Result<Option<u64>, ()> {
    if word >> 48 != epoch & 0xFFFF {
        return Err(());
    }
    let code = word & NO_TIME;
    Ok((code != NO_TIME).then(|| decode(code)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_down_by_less_than_their_unit_and_never_wrap() {
        let year = 365 * 24 * 3600 * 1_000_000_000u64;
        for n in [
            0,
            1,
            999,
            1_000,
            30_000_000_000,
            COARSE * 1_000 - 1,
            COARSE * 1_000,
            10 * year,
            u64::MAX / 2,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let back = unstamp(stamp(7, Some(n)), 7).unwrap().unwrap();
            let unit = if n / 1_000 < COARSE { 1_000 } else { 1 << 18 };
            assert!(back <= n && n - back < unit, "{n} -> {back}");
        }
    }

    #[test]
    fn no_time_and_epochs_are_told_apart() {
        assert_eq!(unstamp(stamp(3, None), 3), Ok(None));
        assert_eq!(unstamp(stamp(3, Some(u64::MAX)), 4), Err(()));
        assert_eq!(unstamp(stamp(0x1_0003, Some(5_000)), 3), Ok(Some(5_000)));
        assert!(unstamp(stamp(3, Some(u64::MAX)), 3).unwrap().is_some());
    }

    #[test]
    fn later_times_never_read_back_earlier_than_much_earlier_ones() {
        // Across the switch to coarse units, order is kept up to one coarse unit.
        let a = COARSE * 1_000 - 1;
        let b = a + (1 << 18);
        let read = |n| unstamp(stamp(0, Some(n)), 0).unwrap().unwrap();
        assert!(read(b) >= read(a));
    }
}
