//! `POST /api/messages/out/{messageId}`: the reference's send-time rules, then the
//! message is handed to the sending queue, durably and once. Delivery picks it up
//! from there; a second send of a queued message is a no-op.

use super::api::ApiResponse;
use super::store::{
    Loaded, OutgoingMessage, Query, StatusRecord, StoreError, StoredConversationKey, Write,
};
use super::{CallId, Node, Pending};
use crate::api::{ApiError, Exception, MessageRef};
use crate::ids::MessageId;
use crate::registry::model::ServiceIdentifier;
use crate::sbd::{BusinessMessage, DateTime, MessageType};
use crate::status::{Outcome, Status};

/// The archive metadata document every arkivmelding message carries.
pub const ARKIVMELDING_FILE: &str = "arkivmelding.xml";

/// The reference's description of an expired message's status.
pub const EXPIRED_DESCRIPTION: &str = "Levetiden for meldingen er utgått. Må sendes på nytt";

impl Node {
    pub(super) fn send(&mut self, call: CallId, message: MessageRef) {
        let MessageRef::Id(id) = message else {
            return self.respond(call, ApiResponse::Error(ApiError::message_not_found(message)));
        };
        let lid = self.load(Query::OutgoingMessage(id));
        self.loads.insert(lid, Pending::SendLookup { call, message_id: id });
    }

    pub(super) fn on_send_lookup(
        &mut self,
        call: CallId,
        message_id: MessageId,
        result: Result<Loaded, StoreError>,
    ) {
        // A message already handed to its service has left the queue; its
        // conversation says it was sent, so sending again is the no-op it would
        // have been before.
        if let Ok(Loaded::OutgoingMessage(None)) = result {
            let lid = self
                .load(Query::OutgoingConversation(StoredConversationKey::MessageId(message_id)));
            self.loads.insert(lid, Pending::SendHandedOff { call, message_id });
            return;
        }
        let Some(mut message) = self.found_outgoing(call, message_id, result) else {
            return;
        };
        if message.queued.is_some() {
            return self.respond(call, ApiResponse::Empty);
        }
        let t = message.sbd.message_type();
        let files_required = !(t.is_receipt() || t == MessageType::Avtalt);
        if files_required && message.files.is_empty() {
            let e = ApiError::new(
                Exception::MissingFile,
                "There must always be at least one attachment",
            );
            return self.respond(call, ApiResponse::Error(e));
        }
        if self.now >= message.expiry {
            // Recorded, and kept, although the call fails: the client learns of the
            // expiry from the answer and from the status alike.
            let shown = message
                .sbd
                .header
                .expected_response()
                .map_or_else(|| DateTime::oslo(message.expiry).to_rfc3339(), |d| d.to_rfc3339());
            let e = ApiError::new(
                Exception::TimeToLive,
                format!(
                    "ExpectedResponseDateTime {shown} has been exceeded. Please resend the message"
                ),
            );
            if message.lifecycle.apply(Status::LevetidUtlopt) != Outcome::Advanced {
                return self.respond(call, ApiResponse::Error(e));
            }
            let record = StatusRecord {
                message_id,
                status: Status::LevetidUtlopt,
                description: Some(EXPIRED_DESCRIPTION.to_owned()),
                at: self.now,
                queued: self.config.status_queue_includes.contains(&message.service),
            };
            let wid = self.persist(Write::RecordOutgoingStatus(record));
            self.writes.insert(wid, Pending::Answered { call, answer: ApiResponse::Error(e) });
            return;
        }
        if t == MessageType::Arkivmelding {
            // The files the arkivmelding names must all be there: read it first.
            if !message.files.iter().any(|f| f.filename == ARKIVMELDING_FILE) {
                let e = ApiError::new(
                    Exception::MissingArkivmelding,
                    "DPO message type requires arkivmelding.xml attachment",
                );
                return self.respond(call, ApiResponse::Error(e));
            }
            let lid =
                self.load(Query::FileContent { message_id, filename: ARKIVMELDING_FILE.into() });
            self.loads.insert(lid, Pending::SendArkivmelding { call, message });
            return;
        }
        self.send_checked(call, message);
    }

    /// The arkivmelding.xml of a message being sent is in: check its file list.
    pub(super) fn on_send_arkivmelding(
        &mut self,
        call: CallId,
        message: Box<OutgoingMessage>,
        result: Result<Loaded, StoreError>,
    ) {
        let xml = match result {
            Ok(Loaded::FileContent(Some(xml))) => xml,
            Ok(_) => {
                return self.store_failed(
                    call,
                    &StoreError::Unavailable("arkivmelding.xml is recorded but not stored".into()),
                );
            }
            Err(e) => return self.store_failed(call, &e),
        };
        let named = match crate::arkivmelding::referenced_files(&xml) {
            Ok(n) => n,
            Err(e) => {
                return self.respond(
                    call,
                    ApiResponse::Error(ApiError::new(
                        Exception::NextMoveRuntime,
                        format!("Failed to get Arkivmelding: {e}"),
                    )),
                );
            }
        };
        let missing: Vec<String> =
            named.into_iter().filter(|n| !message.files.iter().any(|f| &f.filename == n)).collect();
        if !missing.is_empty() {
            let e = ApiError::new(
                Exception::MissingArkivmeldingFile,
                format!(
                    "File(s) defined in arkivmelding, but not found in message: {}",
                    missing.join(",")
                ),
            );
            return self.respond(call, ApiResponse::Error(e));
        }
        self.send_checked(call, message);
    }

    /// The checks after the arkivmelding's, then the queue.
    fn send_checked(&mut self, call: CallId, message: Box<OutgoingMessage>) {
        let t = message.sbd.message_type();
        let Some(message_id) = message.message_id() else {
            return self.store_failed(
                call,
                &StoreError::Unavailable("a stored message has no messageId".into()),
            );
        };
        if let BusinessMessage::Digital(d) = &message.sbd.message {
            let names: Vec<&str> = message.files.iter().map(|f| f.filename.as_str()).collect();
            let missing: Vec<String> = d
                .metadata_filer
                .iter()
                .flat_map(|m| m.iter().flat_map(|(k, v)| [Some(k.as_str()), v.as_str()]))
                .flatten()
                .filter(|f| !names.contains(f))
                .map(str::to_owned)
                .collect();
            if !missing.is_empty() {
                let e = ApiError::new(
                    Exception::FileNotFound,
                    format!("File(s) named {} was not found", missing.join(", ")),
                );
                return self.respond(call, ApiResponse::Error(e));
            }
        }
        let needs_primary = message.service == ServiceIdentifier::Dpi
            || (message.service == ServiceIdentifier::Dph && t == MessageType::Dialogmelding);
        if needs_primary && !message.files.iter().any(|f| f.primary) {
            let e = ApiError::new(
                Exception::MissingPrimaryDocument,
                "Missing a primary document. Please specify the hoveddokument property in the business message and verify that is equal to one of the filenames.",
            );
            return self.respond(call, ApiResponse::Error(e));
        }
        let wid = self.persist(Write::QueueOutgoing { message_id, at: self.now });
        self.writes.insert(wid, Pending::Answered { call, answer: ApiResponse::Empty });
    }
}

impl Node {
    /// Send of a message no longer queued: a no-op if it was handed off, else 404.
    pub(super) fn on_send_handed_off(
        &mut self,
        call: CallId,
        message_id: MessageId,
        result: Result<Loaded, StoreError>,
    ) {
        match result {
            Ok(Loaded::Conversation(Some(_))) => self.respond(call, ApiResponse::Empty),
            Ok(_) => {
                self.respond(call, ApiResponse::Error(ApiError::message_not_found(message_id)))
            }
            Err(e) => self.store_failed(call, &e),
        }
    }
}
