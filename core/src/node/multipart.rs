//! `POST /api/messages/out/multipart`: create, upload every file, send, as one call.
//! Each step is the node's own call, numbered outside the runtime's range; its answer
//! comes back here instead of going out, and decides the next step. The first error
//! ends the call with that error, as the reference answers.

use std::collections::VecDeque;

use bytes::Bytes;
use serde_json::Value;

use super::api::{ApiCall, ApiResponse, Upload};
use super::{CallId, Input, Node};
use crate::api::{ApiError, Exception, MessageRef};
use crate::ids::MessageId;

/// Calls the node makes to itself have the top bit set; runtimes count from 1.
const INTERNAL: u64 = 1 << 63;

#[derive(Debug)]
pub(super) struct Composite {
    outer: CallId,
    stage: Stage,
    files: VecDeque<Upload>,
}

#[derive(Debug)]
enum Stage {
    Create,
    Upload { message_id: MessageId, sbd: Value },
    Send { sbd: Value },
}

impl Node {
    pub(super) fn multipart(&mut self, outer: CallId, sbd: Bytes, files: Vec<Upload>) {
        let composite = Composite { outer, stage: Stage::Create, files: files.into() };
        self.internal(composite, ApiCall::CreateMessage { body: sbd });
    }

    /// Issue `call` as a step of `composite`.
    fn internal(&mut self, composite: Composite, call: ApiCall) {
        let id = CallId(INTERNAL | self.next());
        self.composites.insert(id, composite);
        let now = self.now;
        self.handle_input(Input::Api(id, call), now);
    }

    /// An answer to one of the node's own calls: take the next step.
    pub(super) fn composite_step(&mut self, mut c: Composite, answer: ApiResponse) {
        let (stage, answer) = match (c.stage, answer) {
            (_, ApiResponse::Error(e)) => return self.respond(c.outer, ApiResponse::Error(e)),
            (Stage::Create, ApiResponse::Json(sbd)) => {
                let id = sbd["standardBusinessDocumentHeader"]["documentIdentification"]["instanceIdentifier"]
                    .as_str()
                    .and_then(|s| s.parse().ok());
                let Some(message_id) = id else {
                    let e =
                        ApiError::new(Exception::Internal, "the created message has no messageId");
                    return self.respond(c.outer, ApiResponse::Error(e));
                };
                (Stage::Upload { message_id, sbd }, None)
            }
            (Stage::Upload { message_id, sbd }, ApiResponse::Empty) => {
                (Stage::Upload { message_id, sbd }, None)
            }
            (Stage::Send { sbd }, ApiResponse::Empty) => {
                (Stage::Send { sbd: Value::Null }, Some(sbd))
            }
            (_, other) => {
                let e =
                    ApiError::new(Exception::Internal, format!("unexpected step answer {other:?}"));
                return self.respond(c.outer, ApiResponse::Error(e));
            }
        };
        if let Some(sbd) = answer {
            return self.respond(c.outer, ApiResponse::Json(sbd));
        }
        let Stage::Upload { message_id, sbd } = stage else {
            return;
        };
        match c.files.pop_front() {
            Some(upload) => {
                c.stage = Stage::Upload { message_id, sbd };
                self.internal(
                    c,
                    ApiCall::UploadFile { message: MessageRef::Id(message_id), upload },
                );
            }
            None => {
                c.stage = Stage::Send { sbd };
                self.internal(c, ApiCall::SendMessage { message: MessageRef::Id(message_id) });
            }
        }
    }
}
