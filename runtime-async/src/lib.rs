//! efm-async
