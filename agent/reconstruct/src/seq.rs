//! TCP sequence-number arithmetic (RFC 1982 serial numbers, 32-bit wrap-around).

/// Signed distance from `from` to `to` in sequence space: positive when `to` is after `from`.
#[inline]
pub(crate) fn diff(to: u32, from: u32) -> i64 {
    i64::from(to.wrapping_sub(from) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps() {
        assert_eq!(diff(5, u32::MAX - 4), 10);
        assert_eq!(diff(u32::MAX - 4, 5), -10);
        assert_eq!(diff(7, 7), 0);
    }
}
