//! What a message continues on a sink that can say so (Telegram answers a revoked alert or a
//! corrected item as a reply to the message it continues): the provider's id of the earlier
//! message there, found through the message's `correction_of` or its CAP `cap_follows`.

use super::Deliverer;
use crate::item::Message;
use crate::sink::Sink;
use crate::store::StoreError;

impl Deliverer {
    /// The provider's id, on `sink`, of the message `message` corrects, updates or revokes.
    pub(super) fn earlier_on(
        &self,
        sink: &Sink,
        message: &Message,
    ) -> Result<Option<String>, StoreError> {
        if !matches!(sink, Sink::Telegram(_)) {
            return Ok(None);
        }
        let extra = |k: &str| message.extra.get(k).and_then(|v| v.as_str());
        let earlier = match (extra("correction_of"), extra("cap_follows")) {
            (Some(id), _) => Some(id.to_owned()),
            (None, Some(reference)) => self.store.message_for_cap(reference)?,
            (None, None) => None,
        };
        Ok(match earlier {
            Some(id) => self
                .store
                .delivery(&id, sink.name())?
                .and_then(|r| r.provider_id),
            None => None,
        })
    }
}
