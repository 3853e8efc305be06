//! Mail on FEIL (`difi.move.feature.mailErrorStatus`): once a FEIL is durable, its
//! conversation is read (for its messageReference) and one mail goes out.
//!
//! Every status the node records itself is told as a [`StatusEvent`] after its
//! write ([`Node::status_recorded`]); a FEIL among them is mailed. A FEIL that a
//! received status or receipt implies (`ApplyReceivedStatus`), or that a receipt
//! poll found (`Watched`), is recorded only if it is news: the conversation read
//! after the write tells whether this write recorded it (a FEIL stamped with this
//! write's time), so a repeated receipt is not mailed again. A mail is sent at most
//! once: after a crash between the write and the send it is not sent, as the
//! reference, which mails inside its status transaction, does not either.

use super::{Loaded, Node, Output, Pending, Query, StatusEvent, StatusRecord, StoreError};
use crate::Timestamp;
use crate::api::{ConversationFilter, Pageable};
use crate::ids::{ConversationId, MessageId};
use crate::mail::{FeilConversation, feil_mail};
use crate::status::{Direction, Status};

/// A FEIL to mail, waiting for its conversation.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FeilMail {
    message_id: MessageId,
    conversation_id: Option<ConversationId>,
    direction: Direction,
    /// Mail only if the conversation's FEIL carries this time: set when the write
    /// may have found the FEIL there already.
    only_if_recorded_at: Option<Timestamp>,
}

impl Node {
    fn mails_on_feil(&self) -> bool {
        self.config.mail.as_ref().is_some_and(|m| m.mail_error_status)
    }

    /// A status is durable: tell it, and mail a FEIL.
    pub(super) fn status_recorded(&mut self, event: StatusEvent) {
        let feil = (event.status == Status::Feil && self.mails_on_feil()).then_some(FeilMail {
            message_id: event.message_id,
            conversation_id: event.conversation_id,
            direction: event.direction,
            only_if_recorded_at: None,
        });
        self.outputs.push_back(Output::Status(event));
        if let Some(feil) = feil {
            self.read_for_mail(feil);
        }
    }

    /// As [`Node::status_recorded`], for a status whose write may have found it
    /// there already (a receipt poll answered again): its FEIL is mailed only if
    /// this write recorded it.
    pub(super) fn status_maybe_recorded(&mut self, event: StatusEvent) {
        let feil = (event.status == Status::Feil && self.mails_on_feil()).then_some(FeilMail {
            message_id: event.message_id,
            conversation_id: event.conversation_id,
            direction: event.direction,
            only_if_recorded_at: Some(event.at),
        });
        self.outputs.push_back(Output::Status(event));
        if let Some(feil) = feil {
            self.read_for_mail(feil);
        }
    }

    /// What to mail once `record`, a status the receiving side sent back, is
    /// written: a FEIL, if mail on FEIL is on.
    pub(super) fn received_feil(&self, record: &StatusRecord) -> Option<FeilMail> {
        (record.status == Status::Feil && self.mails_on_feil()).then_some(FeilMail {
            message_id: record.message_id,
            conversation_id: None,
            direction: Direction::Outgoing,
            only_if_recorded_at: Some(record.at),
        })
    }

    /// A SvarInn forsendelse the fagsystem cannot take: mailed instead of lost, when
    /// `mailOnError` is on (see [`crate::mail::svarinn_mail`]). Whether it was mailed;
    /// call it only once the forsendelse's files are durable in the store, since a
    /// level-4 mail points there.
    pub(super) fn mail_undeliverable(
        &mut self,
        forsendelse: &crate::mail::UndeliverableForsendelse,
    ) -> bool {
        let Some(settings) = self.config.mail.as_ref() else { return false };
        match crate::mail::svarinn_mail(settings, forsendelse) {
            Some(mail) => {
                self.outputs.push_back(Output::Mail(mail));
                true
            }
            None => false,
        }
    }

    /// A received FEIL is written: mail it if the write recorded it.
    pub(super) fn mail_if_recorded(&mut self, feil: FeilMail) {
        self.read_for_mail(feil);
    }

    fn read_for_mail(&mut self, feil: FeilMail) {
        let filter = ConversationFilter {
            message_id: Some(feil.message_id.to_string()),
            direction: Some(feil.direction),
            ..ConversationFilter::default()
        };
        let page = Pageable { page: 0, size: 1, sort: Vec::new() };
        let id = self.load(Query::Conversations { filter, page });
        self.loads.insert(id, Pending::FeilMail(feil));
    }

    pub(super) fn feil_mail_loaded(&mut self, feil: FeilMail, result: Result<Loaded, StoreError>) {
        let Some(settings) = self.config.mail.clone() else { return };
        let row = match result {
            Ok(Loaded::Conversations { mut rows, .. }) if !rows.is_empty() => {
                Some(rows.swap_remove(0))
            }
            Ok(_) => None,
            Err(e) => {
                self.note_failure(format!(
                    "FEIL on {} mailed without its conversation: {e}",
                    feil.message_id
                ));
                None
            }
        };
        if let Some(at) = feil.only_if_recorded_at {
            // Mailed only when this write recorded the FEIL: a FEIL there before
            // (or none, the status not applying) was told already, or never is.
            let recorded = row.as_ref().is_some_and(|r| {
                r.statuses.iter().any(|s| s.status == Status::Feil && s.last_update == at)
            });
            if !recorded {
                return;
            }
        }
        let message_id = feil.message_id.to_string();
        let event_conversation = feil.conversation_id.map(|c| c.to_string());
        let conversation = FeilConversation {
            direction: feil.direction,
            conversation_id: row
                .as_ref()
                .and_then(|r| r.conversation_id.as_deref())
                .or(event_conversation.as_deref()),
            message_id: &message_id,
            message_reference: row.as_ref().and_then(|r| r.message_reference.as_deref()),
        };
        let mail = feil_mail(&settings, &conversation);
        self.outputs.push_back(Output::Mail(mail));
    }
}
