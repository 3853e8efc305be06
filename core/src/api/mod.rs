//! The eFormidling 2 REST API as data: the errors it answers with, and (growing) the
//! calls it takes.

mod disposition;
mod error;
pub mod multipart;
mod page;
mod query;
mod route;
pub mod subscription;

pub use disposition::{BadFilename, Disposition, mime_type, plain_filename};
pub use error::{ApiError, Exception};
pub use page::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Pageable, Sort, SortDirection, page_json};
pub use query::{BadQuery, Query};
pub use route::{
    ConversationFilter, IncomingFilter, MessageRef, OutgoingFilter, Route, StatusFilter,
};
