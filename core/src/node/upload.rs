//! `PUT /api/messages/out/{messageId}`: a file joins an outgoing message, under the
//! reference's rules; the same file sent again is a no-op.

use bytes::Bytes;

use super::api::{ApiResponse, StagedUpload, Upload, UploadAllowance, UploadHead};
use super::store::{Loaded, OutgoingMessage, Query, StagedFile, StoreError, StoredFile, Write};
use super::{CallId, Node, Pending};
use crate::api::{ApiError, Exception, MessageRef};
use crate::arkivmelding::ConversationFields;
use crate::ids::MessageId;
use crate::registry::model::ServiceIdentifier;
use crate::sbd::BusinessMessage;

/// A file joining a message: its headers, size and hash, and its content, in memory
/// (a small file of a multipart call) or staged on disk by the runtime.
#[derive(Debug)]
pub(super) struct NewFile {
    head: UploadHead,
    size: u64,
    sha256: String,
    content: Content,
}

#[derive(Debug)]
enum Content {
    Held(Bytes),
    Staged(StagedFile),
}

impl NewFile {
    pub(super) fn held(upload: Upload) -> Self {
        let sha256 = hex(ring::digest::digest(&ring::digest::SHA256, &upload.content).as_ref());
        NewFile {
            size: upload.content.len() as u64,
            sha256,
            head: UploadHead { filename: upload.filename, title: upload.title, mime: upload.mime },
            content: Content::Held(upload.content),
        }
    }

    pub(super) fn staged(upload: StagedUpload) -> Self {
        NewFile {
            size: upload.file.size,
            sha256: upload.sha256.to_ascii_lowercase(),
            head: upload.head,
            content: Content::Staged(upload.file),
        }
    }
}

impl Node {
    pub(super) fn upload(&mut self, call: CallId, message: MessageRef, file: NewFile) {
        let MessageRef::Id(id) = message else {
            return self.respond(call, ApiResponse::Error(ApiError::message_not_found(message)));
        };
        let lid = self.load(Query::OutgoingMessage(id));
        self.loads.insert(lid, Pending::UploadLookup { call, message_id: id, file });
    }

    pub(super) fn upload_allowance(&mut self, call: CallId, message: MessageRef) {
        let MessageRef::Id(id) = message else {
            return self.respond(call, ApiResponse::Error(ApiError::message_not_found(message)));
        };
        let lid = self.load(Query::OutgoingMessage(id));
        self.loads.insert(lid, Pending::UploadAllowance { call, message_id: id });
    }

    pub(super) fn on_upload_allowance(
        &mut self,
        call: CallId,
        message_id: MessageId,
        result: Result<Loaded, StoreError>,
    ) {
        let Some(message) = self.found_outgoing(call, message_id, result) else {
            return;
        };
        let allowance = self.allowance(&message);
        self.respond(call, ApiResponse::Allowance(allowance));
    }

    pub(super) fn on_upload_lookup(
        &mut self,
        call: CallId,
        message_id: MessageId,
        file: NewFile,
        result: Result<Loaded, StoreError>,
    ) {
        let Some(message) = self.found_outgoing(call, message_id, result) else {
            return;
        };
        let head = &file.head;
        if let Some(existing) = message.files.iter().find(|f| f.filename == head.filename) {
            // The same file again (a retry after a lost answer) is done already.
            let same = existing.sha256 == file.sha256
                && existing.mime == head.mime
                && existing.title == head.title;
            let answer = if same {
                ApiResponse::Empty
            } else {
                ApiResponse::Error(ApiError::new(
                    Exception::DuplicateFilename,
                    format!("Filename already exists in message: {}.", head.filename),
                ))
            };
            return self.respond(call, answer);
        }
        let allowance = self.allowance(&message);
        // Checked again here: the runtime checked an allowance before the body, but
        // another upload to the message may have finished since.
        if file.size > allowance.remaining() {
            let e = allowance.exceeded(allowance.used.saturating_add(file.size), false);
            return self.respond(call, ApiResponse::Error(e));
        }
        let primary = message.sbd.message.hoveddokument() == Some(head.filename.as_str());
        if head.title.is_none()
            && needs_title(message.service, &message.sbd.message, &head.filename, primary)
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
        let stored = StoredFile {
            filename: head.filename.clone(),
            title: head.title.clone(),
            mime: head.mime.clone(),
            size: file.size,
            sha256: file.sha256.clone(),
            primary,
        };
        // The reference names the conversation after the arkivmelding.xml's journal
        // post. One it cannot read still uploads; sending it will say what is wrong.
        if stored.filename != super::send::ARKIVMELDING_FILE {
            return self.add_file(call, message_id, file, stored, None);
        }
        match &file.content {
            Content::Held(bytes) => {
                let conversation = crate::arkivmelding::conversation_fields(bytes).ok();
                self.add_file(call, message_id, file, stored, conversation);
            }
            Content::Staged(staged) => {
                let lid = self.load(Query::StagedContent { name: staged.name.clone() });
                self.loads
                    .insert(lid, Pending::UploadArkivmelding { call, message_id, file, stored });
            }
        }
    }

    pub(super) fn on_staged_arkivmelding(
        &mut self,
        call: CallId,
        message_id: MessageId,
        file: NewFile,
        stored: StoredFile,
        result: Result<Loaded, StoreError>,
    ) {
        // Too large or unreadable to be an arkivmelding: uploaded all the same, as
        // one that does not parse is.
        let conversation = match result {
            Ok(Loaded::FileContent(Some(xml))) => {
                crate::arkivmelding::conversation_fields(&xml).ok()
            }
            _ => None,
        };
        self.add_file(call, message_id, file, stored, conversation);
    }

    fn add_file(
        &mut self,
        call: CallId,
        message_id: MessageId,
        file: NewFile,
        stored: StoredFile,
        conversation: Option<ConversationFields>,
    ) {
        let filename = stored.filename.clone();
        let write = match file.content {
            Content::Held(content) => {
                Write::AddFile { message_id, file: stored, content, conversation }
            }
            Content::Staged(staged) => {
                Write::AddStagedFile { message_id, file: stored, staged, conversation }
            }
        };
        let wid = self.persist(write);
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

    /// How much more `message`'s files may take.
    fn allowance(&self, message: &OutgoingMessage) -> UploadAllowance {
        UploadAllowance {
            service: message.service,
            limit: self.upload_limit(message.service),
            used: message.files.iter().map(|f| f.size).sum(),
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
