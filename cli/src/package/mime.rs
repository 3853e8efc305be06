//! Media types by file extension, for manifest.xml and the ASiC manifests (the reference
//! takes them from the API upload; the CLI has only the file name).

pub fn for_name(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "xml" => "application/xml",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "html" | "htm" => "text/html",
        "csv" => "text/csv",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "zip" => "application/zip",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "odt" => "application/vnd.oasis.opendocument.text",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_and_unknown_extensions() {
        assert_eq!(super::for_name("arkivmelding.xml"), "application/xml");
        assert_eq!(super::for_name("A.PDF"), "application/pdf");
        assert_eq!(super::for_name("noext"), "application/octet-stream");
    }
}
