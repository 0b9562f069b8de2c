//! Failed logons throttled by client address.
//!
//! A few failures are free. After them, each failure closes the address for twice as long as the
//! one before (1 s, 2 s, 4 s, … ), up to a lock-out of [`LOCKOUT`]; a quiet [`FORGET_AFTER`] forgets
//! the address. While closed, the address gets 429 with `Retry-After` for every request that needs
//! a token, valid or not: answering a valid token differently would tell a guesser it had found one.
//! The price is that people behind the same address as a guesser wait too; the lock-out is bounded
//! so that they wait minutes, not hours.
//!
//! The address is the TCP peer's, or, behind a reverse proxy the operator names as trusted
//! (`serve --trust-forwarded-for`), the last address in `X-Forwarded-For`: the one the proxy saw.
//! Accounts have their own lock-out where an account is known before its secret is checked (the
//! second factor's wrong codes, `second_factor`).

use axum::http::HeaderMap;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Failures an address may have before it is closed.
pub const FREE_FAILURES: u32 = 5;
/// How long the first closure lasts; each further failure doubles it.
pub const FIRST_CLOSURE: Duration = Duration::from_secs(1);
/// The longest closure: an address failing on past it is locked out this long at a time.
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// An address with no failure for this long starts again from nothing.
pub const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// Addresses remembered at most; past it, the quietest are forgotten first (memory stays bounded
/// under a spread-out attack).
pub const ADDRESSES_MAX: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    closed_until: Option<Instant>,
}

/// The throttle's state: failures per address, and counts for the audit log's aggregate entries.
#[derive(Debug, Default)]
pub struct Throttle {
    addresses: Mutex<HashMap<IpAddr, Failures>>,
    trust_forwarded_for: bool,
    /// Closures since the counts were last taken, and of those, lock-outs.
    closures: AtomicU64,
    lockouts: AtomicU64,
    /// Requests refused because their address was closed, since the counts were last taken.
    refused: AtomicU64,
}

/// What the throttle did since the counts were last taken: for the audit log, counts only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThrottleCounts {
    /// Addresses closed.
    pub closures: u64,
    /// Of those, closed for the whole [`LOCKOUT`].
    pub lockouts: u64,
    /// Requests refused while their address was closed.
    pub refused: u64,
}

impl Throttle {
    /// A throttle that reads the client's address from `X-Forwarded-For` when
    /// `trust_forwarded_for` (the server sits behind a proxy that sets it), else from the peer.
    pub fn new(trust_forwarded_for: bool) -> Throttle {
        Throttle { trust_forwarded_for, ..Throttle::default() }
    }

    /// The client's address, if it can be told.
    pub fn client(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<IpAddr> {
        if self.trust_forwarded_for {
            // Only the last entry, the one the proxy appended: earlier ones are whatever the client
            // sent. If it does not parse, the peer is counted rather than a client-written entry.
            let mut forwarded = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','));
            if let Some(address) = forwarded.next_back().and_then(|a| a.trim().parse::<IpAddr>().ok()) {
                return Some(address);
            }
        }
        peer.map(|p| p.ip())
    }

    /// `Err(how long)` while `client` is closed.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let addresses = self.addresses.lock().unwrap_or_else(|p| p.into_inner());
        match addresses.get(&client).and_then(|f| f.closed_until) {
            Some(until) if until > now => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                Err(until - now)
            }
            _ => Ok(()),
        }
    }

    /// Counts a failure from `client`; returns how long the address is now closed, if it is.
    pub fn failed(&self, client: IpAddr, now: Instant) -> Option<Duration> {
        let mut addresses = self.addresses.lock().unwrap_or_else(|p| p.into_inner());
        if addresses.len() >= ADDRESSES_MAX && !addresses.contains_key(&client) {
            forget_quietest(&mut addresses, now);
        }
        let entry = addresses.entry(client).or_insert(Failures { count: 0, last: now, closed_until: None });
        if now.duration_since(entry.last) > FORGET_AFTER {
            *entry = Failures { count: 0, last: now, closed_until: None };
        }
        entry.count += 1;
        entry.last = now;
        let beyond = entry.count.checked_sub(FREE_FAILURES + 1)?;
        let closure = FIRST_CLOSURE.checked_mul(1u32.checked_shl(beyond).unwrap_or(u32::MAX)).unwrap_or(LOCKOUT).min(LOCKOUT);
        entry.closed_until = Some(now + closure);
        self.closures.fetch_add(1, Ordering::Relaxed);
        if closure == LOCKOUT {
            self.lockouts.fetch_add(1, Ordering::Relaxed);
        }
        Some(closure)
    }

    /// What happened since the last call, for the audit log (the counts start again from zero).
    pub fn take_counts(&self) -> ThrottleCounts {
        ThrottleCounts {
            closures: self.closures.swap(0, Ordering::Relaxed),
            lockouts: self.lockouts.swap(0, Ordering::Relaxed),
            refused: self.refused.swap(0, Ordering::Relaxed),
        }
    }

    /// Puts counts back that could not be logged.
    pub fn restore_counts(&self, counts: ThrottleCounts) {
        self.closures.fetch_add(counts.closures, Ordering::Relaxed);
        self.lockouts.fetch_add(counts.lockouts, Ordering::Relaxed);
        self.refused.fetch_add(counts.refused, Ordering::Relaxed);
    }
}

/// Forgets addresses quiet past [`FORGET_AFTER`] and, if none are, the quietest tenth.
fn forget_quietest(addresses: &mut HashMap<IpAddr, Failures>, now: Instant) {
    addresses.retain(|_, f| now.duration_since(f.last) <= FORGET_AFTER);
    if addresses.len() >= ADDRESSES_MAX {
        let mut by_last: Vec<(Instant, IpAddr)> = addresses.iter().map(|(a, f)| (f.last, *a)).collect();
        by_last.sort_unstable();
        for (_, address) in by_last.into_iter().take(ADDRESSES_MAX / 10) {
            addresses.remove(&address);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn free_failures_then_doubling_closures_up_to_the_lockout() {
        let throttle = Throttle::new(false);
        let start = Instant::now();
        let mut now = start;
        for _ in 0..FREE_FAILURES {
            assert_eq!(throttle.failed(address(1), now), None);
            assert!(throttle.check(address(1), now).is_ok());
        }
        let mut closures = Vec::new();
        for _ in 0..14 {
            let closure = throttle.failed(address(1), now).expect("closed past the free failures");
            assert_eq!(throttle.check(address(1), now), Err(closure));
            assert!(throttle.check(address(2), now).is_ok(), "other addresses are not touched");
            closures.push(closure.as_secs());
            now += closure;
            assert!(throttle.check(address(1), now).is_ok(), "open again once the closure has passed");
        }
        assert_eq!(closures, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900, 900]);
        let counts = throttle.take_counts();
        assert_eq!((counts.closures, counts.lockouts, counts.refused), (14, 4, 14));
        assert_eq!(throttle.take_counts(), ThrottleCounts::default(), "taken once");
        // A quiet hour forgets the address.
        now += FORGET_AFTER + Duration::from_secs(1);
        assert_eq!(throttle.failed(address(1), now), None);
    }

    #[test]
    fn the_address_is_the_peer_unless_a_trusted_proxy_names_it() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.9, 198.51.100.7".parse().unwrap());
        let peer = Some(SocketAddr::from(([127, 0, 0, 1], 4000)));
        assert_eq!(Throttle::new(false).client(&headers, peer), Some(IpAddr::from([127, 0, 0, 1])), "a client may write any header");
        assert_eq!(Throttle::new(true).client(&headers, peer), Some(IpAddr::from([198, 51, 100, 7])), "the address the proxy saw");
        assert_eq!(Throttle::new(true).client(&HeaderMap::new(), peer), Some(IpAddr::from([127, 0, 0, 1])));
        assert_eq!(Throttle::new(true).client(&HeaderMap::new(), None), None);
        let mut spoofed = HeaderMap::new();
        spoofed.insert("x-forwarded-for", "203.0.113.9, not-an-address".parse().unwrap());
        assert_eq!(Throttle::new(true).client(&spoofed, peer), Some(IpAddr::from([127, 0, 0, 1])), "never an entry the client wrote");
    }

    #[test]
    fn memory_stays_bounded_under_a_spread_out_attack() {
        let throttle = Throttle::new(false);
        let now = Instant::now();
        for i in 0..(ADDRESSES_MAX as u32 + 500) {
            throttle.failed(IpAddr::from(i.to_be_bytes()), now + Duration::from_millis(u64::from(i)));
        }
        let remembered = throttle.addresses.lock().unwrap().len();
        assert!(remembered <= ADDRESSES_MAX, "{remembered}");
    }
}
