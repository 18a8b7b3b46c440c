//! Counter sets: [`counter_set!`] declares an enum of counters, each with a stable
//! snake_case name (a metric label), and a plain block of `u64` values indexed by it, with
//! the operations every decoder needs (`get`, `inc`, `add`, `iter`, `merge`) and a `Debug`
//! that shows only what is not zero. Conservation rules stay with each decoder, in its own
//! `impl` block.
#![forbid(unsafe_code)]

/// Declares `pub enum $Counter` (with `ALL` and `name`) and `pub struct $Counters` (one
/// `u64` per counter).
///
/// ```
/// shadowtap_counters::counter_set! {
///     /// Counters of an example decoder.
///     Counter, Counters;
///     /// Requests decoded.
///     Decoded => "decoded",
///     /// Requests dropped.
///     Dropped => "dropped",
/// }
/// let mut c = Counters::default();
/// c.inc(Counter::Decoded);
/// assert_eq!(c.get(Counter::Decoded), 1);
/// assert_eq!(Counter::Dropped.name(), "dropped");
/// ```
#[macro_export]
macro_rules! counter_set {
    (
        $(#[doc = $what:literal])*
        $Counter:ident, $Counters:ident;
        $( $(#[doc = $doc:literal])* $variant:ident => $name:literal, )*
    ) => {
        $(#[doc = $what])*
        ///
        /// The discriminant indexes the values of the counter set.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $Counter {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl $Counter {
            /// Every counter, in index order.
            pub const ALL: &'static [$Counter] = &[ $( $Counter::$variant, )* ];

            /// Stable snake_case name, used as a metric label.
            pub const fn name(self) -> &'static str {
                match self {
                    $( $Counter::$variant => $name, )*
                }
            }

            /// Whether every name is snake_case and unique ([`check_names`]); for tests.
            ///
            /// [`check_names`]: $crate::check_names
            pub fn check_names() -> Result<(), String> {
                $crate::check_names(
                    Self::ALL
                        .iter()
                        .enumerate()
                        .map(|(i, c)| (i, *c as usize, c.name())),
                )
            }
        }

        /// Every counter as a plain `u64`.
        #[derive(Clone, PartialEq, Eq)]
        pub struct $Counters {
            values: [u64; $Counter::ALL.len()],
        }

        impl Default for $Counters {
            fn default() -> Self {
                Self {
                    values: [0; $Counter::ALL.len()],
                }
            }
        }

        impl ::std::fmt::Debug for $Counters {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                let mut m = f.debug_map();
                for (c, v) in self.iter().filter(|(_, v)| *v != 0) {
                    m.entry(&c.name(), &v);
                }
                m.finish()
            }
        }

        impl $Counters {
            /// Current value of `c`.
            pub fn get(&self, c: $Counter) -> u64 {
                self.values[c as usize]
            }

            /// Add one to `c`.
            #[inline]
            pub fn inc(&mut self, c: $Counter) {
                self.add(c, 1);
            }

            /// Add `n` to `c` (saturating).
            #[inline]
            pub fn add(&mut self, c: $Counter, n: u64) {
                let v = &mut self.values[c as usize];
                *v = v.saturating_add(n);
            }

            /// Every counter with its value, in index order.
            pub fn iter(&self) -> impl Iterator<Item = ($Counter, u64)> + '_ {
                $Counter::ALL.iter().map(|c| (*c, self.get(*c)))
            }

            /// Add every counter of `other` to this one.
            pub fn merge(&mut self, other: &$Counters) {
                for (c, v) in other.iter() {
                    self.add(c, v);
                }
            }
        }
    };
}

/// Checks a counter set's names: snake_case (lowercase ASCII, digits, `_`) and unique, and
/// each counter's index its position. Returns the first problem.
pub fn check_names<'a>(
    names: impl IntoIterator<Item = (usize, usize, &'a str)>,
) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for (position, index, name) in names {
        if position != index {
            return Err(format!("{name}: index {index} at position {position}"));
        }
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(format!("{name:?} is not snake_case"));
        }
        if !seen.insert(name) {
            return Err(format!("{name} is used twice"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    crate::counter_set! {
        /// Test counters.
        Counter, Counters;
        /// A.
        First => "first",
        /// B.
        Second => "second",
    }

    #[test]
    fn values_add_saturate_and_merge() {
        let mut a = Counters::default();
        a.inc(Counter::First);
        a.add(Counter::Second, u64::MAX);
        a.inc(Counter::Second);
        assert_eq!(a.get(Counter::Second), u64::MAX);
        let mut b = Counters::default();
        b.merge(&a);
        b.merge(&a);
        assert_eq!(b.get(Counter::First), 2);
        assert_eq!(format!("{:?}", Counters::default()), "{}");
        assert_eq!(Counter::check_names(), Ok(()));
        assert!(super::check_names([(0, 0, "a"), (1, 1, "a")]).is_err());
        assert!(super::check_names([(0, 0, "Bad")]).is_err());
    }
}
