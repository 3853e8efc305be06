//! `PUT /api/messages/out/{messageId}`: a file joins an outgoing message, under the
//! reference's rules; the same file sent again is a no-op.

use super::api::{ApiResponse, Upload};
use super::store::{Loaded, Query, StoreError, StoredFile, Write};
use super::{CallId, Node, Pending};
use crate::api::{ApiError, Exception, MessageRef};
use crate::ids::MessageId;
use crate::registry::model::ServiceIdentifier;
use crate::sbd::BusinessMessage;

impl Node {
    pub(super) fn upload(&mut self, call: CallId, message: MessageRef, upload: Upload) {
        let MessageRef::Id(id) = message else {
            return self.respond(call, ApiResponse::Error(ApiError::message_not_found(message)));
        };
        let lid = self.load(Query::OutgoingMessage(id));
        self.loads.insert(lid, Pending::UploadLookup { call, message_id: id, upload });
    }

    pub(super) fn on_upload_lookup(
        &mut self,
        call: CallId,
        message_id: MessageId,
        upload: Upload,
        result: Result<Loaded, StoreError>,
    ) {
        let Some(message) = self.found_outgoing(call, message_id, result) else {
            return;
        };
        let sha256 = hex(ring::digest::digest(&ring::digest::SHA256, &upload.content).as_ref());
        if let Some(existing) = message.files.iter().find(|f| f.filename == upload.filename) {
            // The same file again (a retry after a lost answer) is done already.
            let same = existing.sha256 == sha256
                && existing.mime == upload.mime
                && existing.title == upload.title;
            let answer = if same {
                ApiResponse::Empty
            } else {
                ApiResponse::Error(ApiError::new(
                    Exception::DuplicateFilename,
                    format!("Filename already exists in message: {}.", upload.filename),
                ))
            };
            return self.respond(call, answer);
        }
        let size = upload.content.len() as u64;
        let total = message.files.iter().map(|f| f.size).sum::<u64>() + size;
        let limit = self.upload_limit(message.service);
        if total > limit {
            let e = ApiError::new(
                Exception::MaxFileSizeExceeded,
                format!(
                    "The combined file size for all attachments ({total} bytes) exceeds the maximum allowed upload size for the target service ({}, {limit} bytes)",
                    message.service.as_str()
                ),
            );
            return self.respond(call, ApiResponse::Error(e));
        }
        let primary = message.sbd.message.hoveddokument() == Some(upload.filename.as_str());
        if upload.title.is_none()
            && needs_title(message.service, &message.sbd.message, &upload.filename, primary)
        {
            let e = ApiError::new(
                Exception::MissingFileTitle,
                format!(
                    "Title is required for the following capabilities: {}",
                    message.service.as_str()
                ),
            );
            return self.respond(call, ApiResponse::Error(e));
        }
        let filename = upload.filename.clone();
        let file = StoredFile {
            filename: upload.filename,
            title: upload.title,
            mime: upload.mime,
            size,
            sha256,
            primary,
        };
        // The reference names the conversation after the arkivmelding's journal post.
        // One it cannot read still uploads; sending it will say what is wrong.
        let conversation = (file.filename == super::send::ARKIVMELDING_FILE)
            .then(|| crate::arkivmelding::conversation_fields(&upload.content).ok())
            .flatten();
        let wid = self.persist(Write::AddFile {
            message_id,
            file,
            content: upload.content,
            conversation,
        });
        self.writes.insert(wid, Pending::UploadWrite { call, filename });
    }

    pub(super) fn on_upload_written(
        &mut self,
        call: CallId,
        filename: &str,
        result: Result<(), StoreError>,
    ) {
        match result {
            Ok(()) => self.respond(call, ApiResponse::Empty),
            // A concurrent upload of the same name won.
            Err(StoreError::Conflict) => {
                let e = ApiError::new(
                    Exception::DuplicateFilename,
                    format!("Filename already exists in message: {filename}."),
                );
                self.respond(call, ApiResponse::Error(e));
            }
            Err(e) => self.store_failed(call, &e),
        }
    }

    fn upload_limit(&self, service: ServiceIdentifier) -> u64 {
        self.config.upload_limits.iter().find(|(s, _)| *s == service).map_or(u64::MAX, |(_, l)| *l)
    }
}

/// DPV shows every file with its title; DPI every file but the primary document and
/// the metadata documents named in `metadataFiler`.
fn needs_title(
    service: ServiceIdentifier,
    message: &BusinessMessage,
    filename: &str,
    primary: bool,
) -> bool {
    match service {
        ServiceIdentifier::Dpv => true,
        ServiceIdentifier::Dpi => {
            let metadata = match message {
                BusinessMessage::Digital(d) => d
                    .metadata_filer
                    .as_ref()
                    .is_some_and(|m| m.values().any(|v| v.as_str() == Some(filename))),
                _ => false,
            };
            !primary && !metadata
        }
        _ => false,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
