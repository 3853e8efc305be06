//! The three percent-encodings the transports need. Each one is spelled out because the
//! services compare or sign the exact bytes.

/// `java.net.URLEncoder` (the `application/x-www-form-urlencoded` encoder): letters,
/// digits and `. - * _` stay, a space becomes `+`, every other UTF-8 byte becomes `%XX`
/// with upper-case hex. The Service Bus signature is computed over this form of the
/// resource URL, so it must match the signer on the other side byte for byte.
pub(crate) fn form(s: &str) -> String {
    encode(s, |b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'*' | b'_'), true)
}

/// One URL path segment: RFC 3986 unreserved characters stay, everything else
/// (notably `/`, `?`, `#` and `%`) is escaped, so an identifier from an answer cannot
/// change which resource a request addresses.
pub(crate) fn path_segment(s: &str) -> String {
    encode(s, |b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~'), false)
}

/// One query parameter value: as [`path_segment`], so `&`, `=` and `+` are escaped.
pub(crate) fn query_value(s: &str) -> String {
    path_segment(s)
}

fn encode(s: &str, keep: impl Fn(u8) -> bool, space_as_plus: bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if keep(b) {
            out.push(char::from(b));
        } else if b == b' ' && space_as_plus {
            out.push('+');
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_is_java_url_encoder() {
        // Expected values as java.net.URLEncoder.encode(s, UTF-8) writes them.
        assert_eq!(
            form("https://ns.servicebus.windows.net/q/messages"),
            "https%3A%2F%2Fns.servicebus.windows.net%2Fq%2Fmessages"
        );
        assert_eq!(form("a b*c~d+e/f=ø"), "a+b*c%7Ed%2Be%2Ff%3D%C3%B8");
    }

    #[test]
    fn path_segments_cannot_add_segments_or_queries() {
        assert_eq!(path_segment("../a/b?c#d%"), "..%2Fa%2Fb%3Fc%23d%25");
        assert_eq!(
            path_segment("0e1b7a5c-7c2f-4f6e-9d7b-2c1f0e9a8b7c"),
            "0e1b7a5c-7c2f-4f6e-9d7b-2c1f0e9a8b7c"
        );
        assert_eq!(query_value("a&b=c d+"), "a%26b%3Dc%20d%2B");
    }
}
