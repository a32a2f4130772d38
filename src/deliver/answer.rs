//! From a provider's answer about one recipient to that recipient's record and the pass's
//! next step. Pure: the table tests below are the whole policy.

use chrono::{DateTime, Utc};

use crate::sink::whatsapp_cloud::CloudOutcome;
use crate::store::{RecipientRecord, RecipientState};

/// Attempts at one recipient before giving up on a retryable error.
pub const MAX_ATTEMPTS: u32 = 5;

/// What the broadcast does after an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Go on with the other recipients.
    Continue,
    /// Go on; this recipient is tried again at a later pass.
    RetryLater,
    /// Stop the pass and slow down: the provider throttles the number, account or app.
    SlowDown { code: i64, detail: String },
    /// Stop the pass and pause the sink: the account cannot send.
    PauseSink {
        until: DateTime<Utc>,
        code: i64,
        detail: String,
    },
}

/// The record of a recipient whose request got `outcome` at its `attempts`-th try (counting
/// this one), and what the pass does next. `retry_at` is when a retryable failure is tried
/// again (the caller's back-off).
pub fn judge(
    outcome: CloudOutcome,
    attempts: u32,
    now: DateTime<Utc>,
    retry_at: DateTime<Utc>,
) -> (RecipientRecord, Next) {
    let record = |state, wamid, detail: String, attempts, not_before| RecipientRecord {
        state,
        at: now,
        wamid,
        detail: Some(detail).filter(|d| !d.is_empty()),
        attempts,
        not_before,
    };
    match outcome {
        CloudOutcome::Sent { wamid } => (
            record(
                RecipientState::Sent,
                Some(wamid),
                String::new(),
                attempts,
                None,
            ),
            Next::Continue,
        ),
        CloudOutcome::RecipientFailed { detail, .. } => (
            record(RecipientState::Failed, None, detail, attempts, None),
            Next::Continue,
        ),
        CloudOutcome::NeedsTemplate { detail } => (
            record(
                RecipientState::Failed,
                None,
                format!("{detail}; outside the 24-hour window and no template could be sent"),
                attempts,
                None,
            ),
            Next::Continue,
        ),
        // The request may have arrived: never sent again.
        CloudOutcome::MaybeSent { detail } => (
            record(RecipientState::Unknown, None, detail, attempts, None),
            Next::Continue,
        ),
        CloudOutcome::RecipientThrottled { detail, .. }
        | CloudOutcome::Retry { detail, .. }
        | CloudOutcome::NotSent { detail } => {
            if attempts >= MAX_ATTEMPTS {
                let detail = format!("gave up after {attempts} attempts: {detail}");
                (
                    record(RecipientState::Failed, None, detail, attempts, None),
                    Next::Continue,
                )
            } else {
                (
                    record(
                        RecipientState::Retry,
                        None,
                        detail,
                        attempts,
                        Some(retry_at),
                    ),
                    Next::RetryLater,
                )
            }
        }
        CloudOutcome::Throttled { code, detail } => (
            record(
                RecipientState::Retry,
                None,
                detail.clone(),
                attempts,
                Some(now),
            ),
            Next::SlowDown { code, detail },
        ),
        // Not the recipient's fault: this attempt does not count.
        CloudOutcome::AccountProblem { code, detail } => {
            let hours = if code == 190 { 1 } else { 4 };
            (
                record(
                    RecipientState::Retry,
                    None,
                    detail.clone(),
                    attempts.saturating_sub(1),
                    Some(now),
                ),
                Next::PauseSink {
                    until: now + chrono::Duration::hours(hours),
                    code,
                    detail,
                },
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::sink::whatsapp_cloud::classify;

    #[test]
    fn what_each_answer_means() {
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap();
        let later = now + chrono::Duration::minutes(5);
        let d = || "x".to_owned();
        use RecipientState::*;
        /// The answer, the attempt, then the recipient's state, attempts recorded, not
        /// before, and the next step.
        type Case = (
            CloudOutcome,
            u32,
            RecipientState,
            u32,
            Option<DateTime<Utc>>,
            &'static str,
        );
        let cases: Vec<Case> = vec![
            (
                CloudOutcome::Sent { wamid: "w".into() },
                1,
                Sent,
                1,
                None,
                "continue",
            ),
            (classify(131026, d()), 1, Failed, 1, None, "continue"),
            (classify(131047, d()), 1, Failed, 1, None, "continue"),
            (
                CloudOutcome::MaybeSent { detail: d() },
                1,
                Unknown,
                1,
                None,
                "continue",
            ),
            (classify(131056, d()), 1, Retry, 1, Some(later), "retry"),
            (classify(500, d()), 2, Retry, 2, Some(later), "retry"),
            (
                CloudOutcome::NotSent { detail: d() },
                1,
                Retry,
                1,
                Some(later),
                "retry",
            ),
            (
                classify(500, d()),
                MAX_ATTEMPTS,
                Failed,
                MAX_ATTEMPTS,
                None,
                "continue",
            ),
            (classify(130429, d()), 1, Retry, 1, Some(now), "slow down"),
            (classify(4, d()), 1, Retry, 1, Some(now), "slow down"),
            (classify(131048, d()), 1, Retry, 0, Some(now), "pause 4h"),
            (classify(190, d()), 3, Retry, 2, Some(now), "pause 1h"),
        ];
        for (outcome, attempts, state, recorded, not_before, next) in cases {
            let what = format!("{outcome:?} at attempt {attempts}");
            let (record, step) = judge(outcome, attempts, now, later);
            assert_eq!(record.state, state, "{what}");
            assert_eq!(record.attempts, recorded, "{what}");
            assert_eq!(record.not_before, not_before, "{what}");
            let step = match step {
                Next::Continue => "continue".to_owned(),
                Next::RetryLater => "retry".to_owned(),
                Next::SlowDown { .. } => "slow down".to_owned(),
                Next::PauseSink { until, .. } => format!("pause {}h", (until - now).num_hours()),
            };
            assert_eq!(step, next, "{what}");
        }
    }

    #[test]
    fn the_provider_id_is_kept_only_for_sent_messages() {
        let now = Utc::now();
        let (r, _) = judge(
            CloudOutcome::Sent {
                wamid: "wamid.1".into(),
            },
            1,
            now,
            now,
        );
        assert_eq!(r.wamid.as_deref(), Some("wamid.1"));
        assert_eq!(r.detail, None);
        let (r, _) = judge(
            CloudOutcome::MaybeSent {
                detail: "timeout".into(),
            },
            1,
            now,
            now,
        );
        assert_eq!(r.wamid, None);
        assert_eq!(r.detail.as_deref(), Some("timeout"));
    }
}
