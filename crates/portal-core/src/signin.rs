//! Sign-in throttling per account (NIST 800-63B 5.2.2): after 5 consecutive failures each new
//! attempt must wait a growing delay; at 100 the account stops accepting passwords until its
//! password is reset. Keyed on the account identifier typed, whether or not it exists, so the
//! answers reveal nothing about which accounts exist.

use time::Duration;

pub const FREE_ATTEMPTS: i32 = 5;
pub const HARD_STOP: i32 = 100;
const MAX_DELAY_SECONDS: i64 = 15 * 60;

/// What the next attempt of an account with `failures` consecutive failures must respect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptGate {
    Open,
    /// Wait until `delay` after the last failure.
    Delay(Duration),
    /// Too many failures: only a password reset reopens the account.
    Locked,
}

pub fn gate(failures: i32) -> AttemptGate {
    if failures >= HARD_STOP {
        AttemptGate::Locked
    } else if failures >= FREE_ATTEMPTS {
        let exp = (failures - FREE_ATTEMPTS).min(20) as u32;
        AttemptGate::Delay(Duration::seconds((1i64 << exp).min(MAX_DELAY_SECONDS)))
    } else {
        AttemptGate::Open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_then_stop() {
        assert_eq!(gate(0), AttemptGate::Open);
        assert_eq!(gate(4), AttemptGate::Open);
        assert_eq!(gate(5), AttemptGate::Delay(Duration::seconds(1)));
        assert_eq!(gate(8), AttemptGate::Delay(Duration::seconds(8)));
        assert_eq!(gate(60), AttemptGate::Delay(Duration::seconds(900)));
        assert_eq!(gate(99), AttemptGate::Delay(Duration::seconds(900)));
        assert_eq!(gate(100), AttemptGate::Locked);
    }
}
