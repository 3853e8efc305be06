//! efm-blocking
