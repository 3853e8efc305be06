//! efm-core: the eFormidling integration point as a sans-IO state machine.
#![forbid(unsafe_code)]
