//! Packaging: the streaming zip writer and reader, the three manifests an eFormidling
//! ASiC-E carries, and the ASiC-E assembly on top of them.
//!
//! Everything here is sans-IO: bytes come in as slices, bytes go out into buffers the
//! caller owns. Nothing holds a whole payload, so memory does not grow with message size.

pub mod asic;
pub mod asic_manifest;
pub mod dos_time;
pub mod eformidling_manifest;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod oasis_manifest;
pub mod pipeline;
pub mod xades;
pub mod zip_read;
pub mod zip_write;

/// How far one streaming call got: bytes taken from the input, bytes put into the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    pub consumed: usize,
    pub written: usize,
}

/// The media type of an ASiC-E container, also the content of its `mimetype` entry.
pub const ASIC_E_MEDIA_TYPE: &str = "application/vnd.etsi.asic-e+zip";

/// Escapes text for an XML attribute value or element text (we always quote with `"`).
pub(crate) fn xml_escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
}
