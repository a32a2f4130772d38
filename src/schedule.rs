//! When to poll: per-source `every` or `cron`, jitter, and exponential back-off on failure.
//!
//! Everything here is a pure function of its inputs (the current time and a jitter fraction
//! chosen by the caller), so the rules are tested without sleeping.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// Where "now" comes from. The daemon uses the system clock; tests pass their own.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that runs at the real pace from a chosen moment, and can jump ahead: the demo's
/// simulated day (loops that sleep still wake on time, since it moves like the real one).
#[derive(Debug, Default)]
pub struct SimClock {
    /// Added to the real time, in milliseconds.
    offset_ms: std::sync::atomic::AtomicI64,
}

impl SimClock {
    /// A clock that reads `start` now.
    pub fn starting_at(start: DateTime<Utc>) -> SimClock {
        let clock = SimClock::default();
        clock.set(start);
        clock
    }

    /// From now on the clock reads `at` (and runs on from there).
    pub fn set(&self, at: DateTime<Utc>) {
        let offset = at.signed_duration_since(Utc::now()).num_milliseconds();
        self.offset_ms
            .store(offset, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        let offset = self.offset_ms.load(std::sync::atomic::Ordering::SeqCst);
        Utc::now() + chrono::Duration::milliseconds(offset)
    }
}

/// A source's polling rhythm.
#[derive(Debug, Clone)]
pub enum Schedule {
    Every(Duration),
    Cron(Box<cron::Schedule>),
}

impl Schedule {
    /// Parses a cron expression (six fields, seconds first; a seventh, the year, is optional).
    pub fn parse_cron(expr: &str) -> Result<Schedule, ScheduleError> {
        cron::Schedule::from_str(expr)
            .map(|s| Schedule::Cron(Box::new(s)))
            .map_err(|e| ScheduleError::Cron(e.to_string()))
    }

    /// The next poll after a successful one at `now`. `jitter` in [0, 1) spreads sources that
    /// share a rhythm so they do not all hit the network in the same second: up to 10% of the
    /// interval (at most 60 s) is added.
    pub fn next_after(&self, now: DateTime<Utc>, tz: Tz, jitter: f64) -> DateTime<Utc> {
        let jitter = jitter.clamp(0.0, 1.0);
        match self {
            Schedule::Every(every) => {
                let spread = every.mul_f64(0.1).min(Duration::from_secs(60));
                now + to_chrono(*every + spread.mul_f64(jitter))
            }
            Schedule::Cron(schedule) => {
                let local = now.with_timezone(&tz);
                let mut upcoming = schedule.after(&local);
                match (upcoming.next(), upcoming.next()) {
                    (Some(first), second) => {
                        let first = first.with_timezone(&Utc);
                        let interval = second
                            .map(|s| (s.with_timezone(&Utc) - first).to_std().unwrap_or_default())
                            .unwrap_or(Duration::from_secs(600));
                        let spread = interval.mul_f64(0.1).min(Duration::from_secs(60));
                        first + to_chrono(spread.mul_f64(jitter))
                    }
                    // An expression with no future firing (a past year): check daily.
                    (None, _) => now + chrono::Duration::days(1),
                }
            }
        }
    }
}

/// Hours when normal messages wait (urgent ones do not), e.g. "21:00-07:30" (local time; the
/// window may cross midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: chrono::NaiveTime,
    pub end: chrono::NaiveTime,
}

/// Why a rhythm or a quiet window cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The cron crate's explanation (its first line is the useful one).
    #[error("{}", .0.lines().next().unwrap_or_default().trim())]
    Cron(String),
    #[error("write it as HH:MM-HH:MM, e.g. \"21:00-07:30\"")]
    NotAWindow,
    #[error("{0:?} is not a time (HH:MM)")]
    NotATime(String),
    #[error("the start and the end are the same")]
    Empty,
}

impl FromStr for QuietHours {
    type Err = ScheduleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, b) = s.split_once('-').ok_or(ScheduleError::NotAWindow)?;
        let t = |x: &str| {
            chrono::NaiveTime::parse_from_str(x.trim(), "%H:%M")
                .map_err(|_| ScheduleError::NotATime(x.trim().to_owned()))
        };
        let (start, end) = (t(a)?, t(b)?);
        if start == end {
            return Err(ScheduleError::Empty);
        }
        Ok(QuietHours { start, end })
    }
}

impl QuietHours {
    /// Whether `now` falls in the quiet window, in `tz`'s local time.
    pub fn contains(&self, now: DateTime<Utc>, tz: Tz) -> bool {
        let t = now.with_timezone(&tz).time();
        if self.start < self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }

    /// When the quiet window holding `now` ends (the next `end` in `tz`'s local time); `None`
    /// when `now` is outside it.
    pub fn ends_after(&self, now: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        if !self.contains(now, tz) {
            return None;
        }
        let local = now.with_timezone(&tz);
        let day = if local.time() < self.end {
            local.date_naive()
        } else {
            local.date_naive().succ_opt()?
        };
        let end = day.and_time(self.end);
        // A DST gap at `end`: the first valid instant after it.
        (0..=2)
            .find_map(|h| {
                chrono::TimeZone::from_local_datetime(&tz, &(end + chrono::Duration::hours(h)))
                    .earliest()
            })
            .map(|t| t.with_timezone(&Utc))
    }
}

/// Wait before retrying after `failures` consecutive failures (1 = the first failure):
/// 30 s doubling each time, capped at `cap`, minus up to 20% jitter. Retries never stop.
pub fn backoff(failures: u32, cap: Duration, jitter: f64) -> Duration {
    let exp = failures.saturating_sub(1).min(20);
    let base = Duration::from_secs(30).saturating_mul(1u32 << exp).min(cap);
    base.mul_f64(1.0 - 0.2 * jitter.clamp(0.0, 1.0))
}

fn to_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, h, m, s).unwrap()
    }

    #[test]
    fn every_adds_interval_and_bounded_jitter() {
        let s = Schedule::Every(Duration::from_secs(300));
        assert_eq!(
            s.next_after(at(10, 0, 0), chrono_tz::UTC, 0.0),
            at(10, 5, 0)
        );
        assert_eq!(
            s.next_after(at(10, 0, 0), chrono_tz::UTC, 1.0),
            at(10, 5, 30)
        );
        let daily = Schedule::Every(Duration::from_secs(86_400));
        let next = daily.next_after(at(10, 0, 0), chrono_tz::UTC, 1.0);
        assert_eq!(next - at(10, 0, 0), chrono::Duration::seconds(86_460));
    }

    #[test]
    fn cron_follows_local_time() {
        // 07:00 every day in Rome is 06:00 UTC in November.
        let s = Schedule::parse_cron("0 0 7 * * *").unwrap();
        let next = s.next_after(at(10, 0, 0), chrono_tz::Europe::Rome, 0.0);
        assert_eq!(next, Utc.with_ymd_and_hms(2026, 11, 26, 6, 0, 0).unwrap());
        let five = Schedule::parse_cron("0 */5 * * * *").unwrap();
        assert_eq!(
            five.next_after(at(10, 1, 0), chrono_tz::UTC, 0.0),
            at(10, 5, 0)
        );
        assert_eq!(
            five.next_after(at(10, 1, 0), chrono_tz::UTC, 1.0),
            at(10, 5, 30)
        );
    }

    #[test]
    fn bad_cron_is_an_error() {
        assert!(Schedule::parse_cron("every tuesday").is_err());
    }

    #[test]
    fn quiet_hours_cross_midnight() {
        let q: QuietHours = "21:00-07:30".parse().unwrap();
        let rome = chrono_tz::Europe::Rome;
        // 20:30 UTC is 21:30 in Rome in November.
        assert!(q.contains(at(20, 30, 0), rome));
        assert!(q.contains(at(6, 0, 0), rome));
        assert!(!q.contains(at(6, 30, 0), rome));
        assert!(!q.contains(at(12, 0, 0), rome));
        let day: QuietHours = "13:00-15:00".parse().unwrap();
        assert!(day.contains(at(12, 30, 0), rome));
        assert!("25:00-07:00".parse::<QuietHours>().is_err());
        assert!("21:00".parse::<QuietHours>().is_err());
    }

    #[test]
    fn quiet_hours_say_when_they_end() {
        let q: QuietHours = "21:00-07:30".parse().unwrap();
        let rome = chrono_tz::Europe::Rome;
        // 21:30 in Rome: the next morning at 07:30 (06:30 UTC); 05:00: the same morning.
        let next_morning = Utc.with_ymd_and_hms(2026, 11, 26, 6, 30, 0).unwrap();
        assert_eq!(q.ends_after(at(20, 30, 0), rome), Some(next_morning));
        assert_eq!(q.ends_after(at(4, 0, 0), rome), Some(at(6, 30, 0)));
        assert_eq!(q.ends_after(at(12, 0, 0), rome), None);
        let day: QuietHours = "13:00-15:00".parse().unwrap();
        assert_eq!(day.ends_after(at(12, 30, 0), rome), Some(at(14, 0, 0)));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let cap = Duration::from_secs(3600);
        assert_eq!(backoff(1, cap, 0.0), Duration::from_secs(30));
        assert_eq!(backoff(2, cap, 0.0), Duration::from_secs(60));
        assert_eq!(backoff(5, cap, 0.0), Duration::from_secs(480));
        assert_eq!(backoff(50, cap, 0.0), cap);
        assert_eq!(backoff(1, cap, 1.0), Duration::from_secs(24));
    }
}
