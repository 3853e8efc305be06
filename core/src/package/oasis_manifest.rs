//! `META-INF/manifest.xml`: the OASIS OpenDocument manifest ASiC-E readers use to learn
//! each file's media type.

use super::{ASIC_E_MEDIA_TYPE, xml_escape};

/// Writes the manifest: `/` with the ASiC-E media type, then `(path, media type)` pairs.
pub fn oasis_manifest_xml<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut x = String::with_capacity(512);
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n");
    x.push_str("<manifest:manifest xmlns:manifest=\"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0\">\n");
    x.push_str("    <manifest:file-entry manifest:full-path=\"/\" manifest:media-type=\"");
    x.push_str(ASIC_E_MEDIA_TYPE);
    x.push_str("\"/>\n");
    for (path, mime) in files {
        x.push_str("    <manifest:file-entry manifest:full-path=\"");
        xml_escape(path, &mut x);
        x.push_str("\" manifest:media-type=\"");
        xml_escape(mime, &mut x);
        x.push_str("\"/>\n");
    }
    x.push_str("</manifest:manifest>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_root_then_files() {
        let x =
            oasis_manifest_xml([("manifest.xml", "application/xml"), ("a.pdf", "application/pdf")]);
        let root = x.find("full-path=\"/\"").unwrap_or(usize::MAX);
        let a = x.find("full-path=\"a.pdf\"").unwrap_or(0);
        assert!(root < a);
    }
}
