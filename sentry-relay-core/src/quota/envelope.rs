//! Applying quotas to an envelope: which items pass, what was dropped and
//! why.

use std::borrow::Cow;
use std::convert::Infallible;

use chrono::{DateTime, Utc};
use sentry_envelope::{AttachmentType, DataCategory, Envelope, Item, ItemType};

use super::counter::{QuotaCheck, QuotaCounter, QuotaError};
use super::model::{KeyRateLimit, Quota, Scoping};
use super::rate_limit::{CachedRateLimits, RateLimits};

/// A quantity dropped because of a rate limit, for the `rate_limited`
/// outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DroppedQuantity {
    /// The category counted.
    pub category: DataCategory,
    /// How much: items, or bytes for byte categories.
    pub quantity: u64,
    /// The reason code of the limit, if the quota had one.
    pub reason_code: Option<String>,
}

/// The result of applying rate limits to an envelope.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvelopeLimits {
    /// The envelope with the items that passed, headers unchanged.
    pub accepted: Envelope,
    /// What was dropped, summed per category and reason.
    pub dropped: Vec<DroppedQuantity>,
    /// The limits that dropped something, for the `X-Sentry-Rate-Limits`
    /// header and for [`CachedRateLimits::merge`].
    pub rate_limits: RateLimits,
}

impl EnvelopeLimits {
    /// Whether everything was refused: the edge answers 429 with
    /// `Retry-After` and `X-Sentry-Rate-Limits`. Otherwise it answers 200,
    /// with the header if [`rate_limits`](Self::rate_limits) is not empty.
    pub fn is_rejected(&self) -> bool {
        self.accepted.items().is_empty() && !self.dropped.is_empty()
    }
}

fn quantities(item: &Item) -> Vec<(DataCategory, u64)> {
    item.quantities()
        .into_iter()
        .map(|(c, q)| (c, u64::try_from(q).unwrap_or(u64::MAX)))
        .collect()
}

/// Attachments that become the event when there is no event item.
fn creates_event(item: &Item) -> bool {
    matches!(
        item.attachment_type(),
        Some(
            AttachmentType::Minidump
                | AttachmentType::AppleCrashReport
                | AttachmentType::Prosperodump
        )
    )
}

/// Items that are part of the event and go when it is rate limited.
fn belongs_to_event(item: &Item) -> bool {
    matches!(item.ty(), ItemType::Attachment | ItemType::FormData)
}

struct Outcome {
    dropped: Vec<DroppedQuantity>,
    rate_limits: RateLimits,
}

impl Outcome {
    fn record(&mut self, quantities: &[(DataCategory, u64)], limits: &RateLimits) {
        for &(category, quantity) in quantities {
            if quantity == 0 {
                continue;
            }
            let reason_code = limits
                .iter()
                .find(|l| l.matches_category(category))
                .or_else(|| limits.iter().next())
                .and_then(|l| l.reason_code.clone());
            match self
                .dropped
                .iter_mut()
                .find(|d| d.category == category && d.reason_code == reason_code)
            {
                Some(d) => d.quantity = d.quantity.saturating_add(quantity),
                None => self.dropped.push(DroppedQuantity {
                    category,
                    quantity,
                    reason_code,
                }),
            }
        }
    }
}

/// Applies limits to an envelope, asking `check` about each unit of data:
/// the event first, then every other item that counts towards a category.
/// `check` gets the categories and quantities of one unit and answers with
/// the limits that refuse it (having counted it if none does).
///
/// Relay's order and grouping: when the event (or the crash report that
/// becomes one) is refused, its attachments go with it uncounted; an
/// accepted event's attachments are checked on their own.
fn enforce_with<E>(
    envelope: &Envelope,
    mut check: impl FnMut(&[(DataCategory, u64)]) -> Result<RateLimits, E>,
) -> Result<EnvelopeLimits, E> {
    let items = envelope.items();
    let mut keep = vec![true; items.len()];
    let mut outcome = Outcome {
        dropped: Vec::new(),
        rate_limits: RateLimits::new(),
    };

    let event_item = items.iter().position(|i| i.ty().is_event());
    let event = match event_item {
        Some(index) => Some((index, quantities(&items[index]))),
        None => items
            .iter()
            .position(creates_event)
            .map(|_| (usize::MAX, vec![(DataCategory::Error, 1)])),
    };
    if let Some((index, event_quantities)) = event {
        let limits = check(&event_quantities)?;
        if !limits.is_empty() {
            outcome.record(&event_quantities, &limits);
            if let Some(flag) = keep.get_mut(index) {
                *flag = false;
            }
            for (flag, item) in keep.iter_mut().zip(items) {
                if *flag && belongs_to_event(item) {
                    *flag = false;
                    outcome.record(&quantities(item), &limits);
                }
            }
            outcome.rate_limits.merge(limits);
        }
    }

    for (index, item) in items.iter().enumerate() {
        if !keep[index] || Some(index) == event_item {
            continue;
        }
        let item_quantities = quantities(item);
        if item_quantities.is_empty() {
            continue;
        }
        let limits = check(&item_quantities)?;
        if !limits.is_empty() {
            keep[index] = false;
            outcome.record(&item_quantities, &limits);
            outcome.rate_limits.merge(limits);
        }
    }

    let mut accepted = Envelope::new(envelope.headers().clone());
    for (item, kept) in items.iter().zip(keep) {
        if kept {
            accepted.add_item(item.clone());
        }
    }
    Ok(EnvelopeLimits {
        accepted,
        dropped: outcome.dropped,
        rate_limits: outcome.rate_limits,
    })
}

fn cached_hits(
    cached: &CachedRateLimits,
    scoping: Scoping,
    quantities: &[(DataCategory, u64)],
    now: DateTime<Utc>,
) -> RateLimits {
    let mut hits = RateLimits::new();
    for &(category, _) in quantities {
        hits.merge(cached.check(&scoping.item(category), now));
    }
    hits
}

impl CachedRateLimits {
    /// Applies only the remembered limits to an envelope, counting nothing:
    /// the quick refusal before quotas are counted.
    pub fn enforce(
        &self,
        envelope: &Envelope,
        scoping: Scoping,
        now: DateTime<Utc>,
    ) -> EnvelopeLimits {
        let result = enforce_with::<Infallible>(envelope, |quantities| {
            Ok(cached_hits(self, scoping, quantities, now))
        });
        match result {
            Ok(limits) => limits,
            Err(never) => match never {},
        }
    }
}

/// Applies a project's quotas to envelopes, counting with a
/// [`QuotaCounter`].
///
/// Every item that counts towards a category is one all-or-nothing call to
/// the counter, with every quota checked for each of its categories (a
/// transaction counts as `transaction`, `transaction_indexed`, `span` and
/// `span_indexed`; an attachment as `attachment` bytes and one
/// `attachment_item`). The event goes first; when it is refused, its
/// attachments are dropped with it, uncounted. Items that count towards no
/// category (client reports, for one) always pass.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use sentry_envelope::{DataCategory, Envelope, EnvelopeHeaders, Item, ItemType, ProjectId};
/// use sentry_relay_core::quota::{MemoryCounter, Quota, QuotaScope, RateLimiter, Scoping};
///
/// let quotas = vec![Quota {
///     id: Some("errors".into()),
///     categories: vec![DataCategory::Error],
///     scope: QuotaScope::Project,
///     scope_id: None,
///     limit: Some(1),
///     window: Some(60),
///     reason_code: Some("project_quota".into()),
/// }];
/// let counter = MemoryCounter::new();
/// let limiter = RateLimiter::new(&counter, &quotas);
/// // Organization 60's minute windows start on the minute.
/// let scoping = Scoping::new(60, ProjectId::new(42));
/// let now = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
///
/// let mut envelope = Envelope::new(EnvelopeHeaders::default());
/// envelope.add_item(Item::new(ItemType::Event, "{}"));
/// envelope.add_item(Item::new(ItemType::Attachment, "log"));
///
/// let first = limiter.enforce(&envelope, scoping, now)?;
/// assert_eq!(first.accepted.items().len(), 2);
///
/// let second = limiter.enforce(&envelope, scoping, now)?;
/// assert!(second.is_rejected());
/// assert_eq!(second.rate_limits.to_header(now), "60:error:project:project_quota");
/// # Ok::<(), sentry_relay_core::quota::QuotaError>(())
/// ```
pub struct RateLimiter<'a> {
    counter: &'a dyn QuotaCounter,
    quotas: Vec<Cow<'a, Quota>>,
    cached: Option<&'a CachedRateLimits>,
}

impl<'a> RateLimiter<'a> {
    /// A limiter for these quotas (a project config's); invalid ones
    /// ([`Quota::is_valid`]) are left out.
    pub fn new(counter: &'a dyn QuotaCounter, quotas: &'a [Quota]) -> Self {
        RateLimiter {
            counter,
            quotas: quotas
                .iter()
                .filter(|q| q.is_valid())
                .map(Cow::Borrowed)
                .collect(),
            cached: None,
        }
    }

    /// Adds one more quota (left out if invalid).
    pub fn with_quota(mut self, quota: Quota) -> Self {
        if quota.is_valid() {
            self.quotas.push(Cow::Owned(quota));
        }
        self
    }

    /// Adds the quota of a client key's rate limit
    /// ([`KeyRateLimit::to_quota`]); nothing without a rate limit or a
    /// numeric key id.
    pub fn with_key_rate_limit(
        self,
        key_id: Option<u64>,
        rate_limit: Option<KeyRateLimit>,
    ) -> Self {
        match (key_id, rate_limit) {
            (Some(key_id), Some(limit)) => match limit.to_quota(key_id) {
                Some(quota) => self.with_quota(quota),
                None => self,
            },
            _ => self,
        }
    }

    /// Refuses data at once, uncounted, when a remembered limit covers it.
    /// The caller merges the limits each call returns back into its cache.
    pub fn with_cached(mut self, cached: &'a CachedRateLimits) -> Self {
        self.cached = Some(cached);
        self
    }

    /// Applies the quotas to an envelope of `scoping` received at `now`.
    pub fn enforce(
        &self,
        envelope: &Envelope,
        scoping: Scoping,
        now: DateTime<Utc>,
    ) -> Result<EnvelopeLimits, QuotaError> {
        enforce_with(envelope, |quantities| {
            if let Some(cached) = self.cached {
                let hits = cached_hits(cached, scoping, quantities, now);
                if !hits.is_empty() {
                    return Ok(hits);
                }
            }
            let checks: Vec<QuotaCheck<'_>> = quantities
                .iter()
                .flat_map(|&(category, quantity)| {
                    self.quotas.iter().map(move |quota| QuotaCheck {
                        quota: quota.as_ref(),
                        scoping: scoping.item(category),
                        quantity,
                    })
                })
                .collect();
            if checks.is_empty() {
                return Ok(RateLimits::new());
            }
            self.counter.check_and_add(&checks, now)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::counter::MemoryCounter;
    use crate::quota::model::QuotaScope;
    use chrono::{TimeDelta, TimeZone};
    use sentry_envelope::{EnvelopeHeaders, ProjectId};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
    }

    fn scoping() -> Scoping {
        Scoping::new(1, ProjectId::new(42)).with_key_id(7)
    }

    fn quota(id: &str, categories: &[DataCategory], limit: u64) -> Quota {
        Quota {
            id: Some(id.into()),
            categories: categories.to_vec(),
            scope: QuotaScope::Project,
            scope_id: None,
            limit: Some(limit),
            window: Some(60),
            reason_code: Some(format!("{id}_quota")),
        }
    }

    fn envelope(items: &[Item]) -> Envelope {
        let mut envelope = Envelope::new(EnvelopeHeaders::default());
        for item in items {
            envelope.add_item(item.clone());
        }
        envelope
    }

    fn attachment(len: usize) -> Item {
        Item::new(ItemType::Attachment, vec![b'a'; len])
    }

    fn types(envelope: &Envelope) -> Vec<&str> {
        envelope.items().iter().map(|i| i.ty().as_str()).collect()
    }

    fn dropped(category: DataCategory, quantity: u64, reason: &str) -> DroppedQuantity {
        DroppedQuantity {
            category,
            quantity,
            reason_code: Some(reason.into()),
        }
    }

    #[test]
    fn limited_event_takes_its_attachments() {
        let quotas = [
            quota("err", &[DataCategory::Error], 0),
            quota("att", &[DataCategory::Attachment], 1000),
        ];
        let counter = MemoryCounter::new();
        let limiter = RateLimiter::new(&counter, &quotas);
        let env = envelope(&[
            Item::new(ItemType::Event, "{}"),
            attachment(10),
            attachment(20),
            Item::new(ItemType::ClientReport, "{}"),
        ]);
        let result = limiter.enforce(&env, scoping(), now()).unwrap();
        assert_eq!(types(&result.accepted), ["client_report"]);
        assert!(!result.is_rejected());
        assert_eq!(
            result.dropped,
            vec![
                dropped(DataCategory::Error, 1, "err_quota"),
                dropped(DataCategory::Attachment, 30, "err_quota"),
                dropped(DataCategory::AttachmentItem, 2, "err_quota"),
            ]
        );
        assert_eq!(
            result.rate_limits.to_header(now()),
            "60:error:project:err_quota"
        );
        // The attachments were not counted: all 1000 bytes are still free.
        let only_attachments = envelope(&[attachment(1000)]);
        let result = limiter
            .enforce(&only_attachments, scoping(), now())
            .unwrap();
        assert_eq!(result.accepted.items().len(), 1);
    }

    #[test]
    fn attachment_limit_keeps_the_event() {
        let quotas = [quota("att", &[DataCategory::Attachment], 15)];
        let counter = MemoryCounter::new();
        let limiter = RateLimiter::new(&counter, &quotas);
        let env = envelope(&[
            Item::new(ItemType::Event, "{}"),
            attachment(10),
            attachment(10),
        ]);
        let result = limiter.enforce(&env, scoping(), now()).unwrap();
        assert_eq!(types(&result.accepted), ["event", "attachment"]);
        assert_eq!(
            result.dropped,
            vec![
                dropped(DataCategory::Attachment, 10, "att_quota"),
                dropped(DataCategory::AttachmentItem, 1, "att_quota"),
            ]
        );
    }

    #[test]
    fn transaction_limited_error_accepted() {
        let quotas = [quota("tx", &[DataCategory::Transaction], 1)];
        let counter = MemoryCounter::new();
        let limiter = RateLimiter::new(&counter, &quotas);
        let tx = envelope(&[Item::new(ItemType::Transaction, "{}")]);
        assert_eq!(
            limiter
                .enforce(&tx, scoping(), now())
                .unwrap()
                .accepted
                .items()
                .len(),
            1
        );
        let result = limiter.enforce(&tx, scoping(), now()).unwrap();
        assert!(result.is_rejected());
        assert_eq!(
            result.dropped,
            vec![
                dropped(DataCategory::Transaction, 1, "tx_quota"),
                dropped(DataCategory::TransactionIndexed, 1, "tx_quota"),
                dropped(DataCategory::Span, 1, "tx_quota"),
                dropped(DataCategory::SpanIndexed, 1, "tx_quota"),
            ]
        );
        assert!(result.rate_limits.is_limited(DataCategory::Transaction));
        assert!(!result.rate_limits.is_limited(DataCategory::Error));

        let error = envelope(&[Item::new(ItemType::Event, "{}")]);
        let result = limiter.enforce(&error, scoping(), now()).unwrap();
        assert_eq!(types(&result.accepted), ["event"]);
        assert!(result.rate_limits.is_empty());
    }

    #[test]
    fn sessions_limited_on_their_own() {
        let quotas = [quota("s", &[DataCategory::Session], 1)];
        let counter = MemoryCounter::new();
        let limiter = RateLimiter::new(&counter, &quotas);
        let env = envelope(&[
            Item::new(ItemType::Event, "{}"),
            Item::new(ItemType::Session, "{}"),
            Item::new(ItemType::Session, "{}"),
        ]);
        let result = limiter.enforce(&env, scoping(), now()).unwrap();
        assert_eq!(types(&result.accepted), ["event", "session"]);
        assert_eq!(
            result.dropped,
            vec![dropped(DataCategory::Session, 1, "s_quota")]
        );
        // Organization 1's windows start a second past the minute.
        assert_eq!(
            result.rate_limits.to_header(now()),
            "1:session:project:s_quota"
        );
    }

    #[test]
    fn minidump_counts_as_error() {
        let quotas = [quota("err", &[DataCategory::Error], 0)];
        let counter = MemoryCounter::new();
        let limiter = RateLimiter::new(&counter, &quotas);
        let mut minidump = attachment(100);
        minidump.headers.attachment_type = Some(AttachmentType::Minidump);
        let env = envelope(&[minidump, attachment(5)]);
        let result = limiter.enforce(&env, scoping(), now()).unwrap();
        assert!(result.is_rejected());
        assert_eq!(
            result.dropped,
            vec![
                dropped(DataCategory::Error, 1, "err_quota"),
                dropped(DataCategory::Attachment, 105, "err_quota"),
                dropped(DataCategory::AttachmentItem, 2, "err_quota"),
            ]
        );
    }

    #[test]
    fn key_rate_limit() {
        let counter = MemoryCounter::new();
        let limiter = RateLimiter::new(&counter, &[]).with_key_rate_limit(
            Some(7),
            Some(KeyRateLimit {
                window: 60,
                count: 2,
            }),
        );
        let env = envelope(&[Item::new(ItemType::Event, "{}")]);
        for _ in 0..2 {
            assert!(
                limiter
                    .enforce(&env, scoping(), now())
                    .unwrap()
                    .rate_limits
                    .is_empty()
            );
        }
        let result = limiter.enforce(&env, scoping(), now()).unwrap();
        assert!(result.is_rejected());
        // Organization 1's minute windows start at second 1: one second left.
        assert_eq!(
            result.rate_limits.to_header(now()),
            "1:default;error;security:key:key_quota"
        );
        // Another key of the same project is not limited.
        let other_key = Scoping::new(1, ProjectId::new(42)).with_key_id(8);
        assert!(
            limiter
                .enforce(&env, other_key, now())
                .unwrap()
                .rate_limits
                .is_empty()
        );
        // Transactions are not covered by key rate limits.
        let tx = envelope(&[Item::new(ItemType::Transaction, "{}")]);
        assert!(
            limiter
                .enforce(&tx, scoping(), now())
                .unwrap()
                .rate_limits
                .is_empty()
        );
    }

    #[test]
    fn cached_limits_refuse_without_counting() {
        let quotas = [quota("err", &[DataCategory::Error], 1)];
        let counter = MemoryCounter::new();
        let mut cached = CachedRateLimits::new();
        let env = envelope(&[Item::new(ItemType::Event, "{}")]);
        {
            let limiter = RateLimiter::new(&counter, &quotas).with_cached(&cached);
            assert!(
                limiter
                    .enforce(&env, scoping(), now())
                    .unwrap()
                    .rate_limits
                    .is_empty()
            );
            let refused = limiter.enforce(&env, scoping(), now()).unwrap();
            assert!(refused.is_rejected());
            let limits = refused.rate_limits;
            cached.merge(limits, now());
        }
        assert!(cached.enforce(&env, scoping(), now()).is_rejected());
        let other_project = Scoping::new(1, ProjectId::new(43));
        assert!(!cached.enforce(&env, other_project, now()).is_rejected());

        // The next window: the cache has expired, the counter starts over.
        let later = now() + TimeDelta::seconds(60);
        assert!(!cached.enforce(&env, scoping(), later).is_rejected());
        let limiter = RateLimiter::new(&counter, &quotas).with_cached(&cached);
        assert!(
            !limiter
                .enforce(&env, scoping(), later)
                .unwrap()
                .is_rejected()
        );
    }

    #[test]
    fn invalid_quotas_are_ignored() {
        let mut invalid = quota("x", &[], 0);
        invalid.limit = Some(1);
        let quotas = [invalid];
        let counter = MemoryCounter::new();
        let limiter = RateLimiter::new(&counter, &quotas);
        let env = envelope(&[Item::new(ItemType::Event, "{}")]);
        for _ in 0..3 {
            assert!(
                limiter
                    .enforce(&env, scoping(), now())
                    .unwrap()
                    .rate_limits
                    .is_empty()
            );
        }
        assert!(counter.is_empty());
    }
}
