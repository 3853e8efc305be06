//! The eFormidling 2 REST API as data: the errors it answers with, and (growing) the
//! calls it takes.

mod error;

pub use error::{ApiError, Exception};
