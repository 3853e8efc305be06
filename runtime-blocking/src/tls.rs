//! TLS for `efm serve`, with rustls: the server configuration from a PEM
//! certificate chain and key, and a sans-IO session that both runtimes drive over
//! their own sockets (bytes from the network in, plaintext out, and back), as they
//! drive the HTTP framing.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: cannot read the TLS certificate chain: {reason}")]
    Certificates { path: PathBuf, reason: String },
    #[error("{path}: holds no certificate (expected PEM blocks `-----BEGIN CERTIFICATE-----`)")]
    NoCertificate { path: PathBuf },
    #[error(
        "{path}: cannot read the TLS private key (expected one PEM private key, PKCS#8, PKCS#1 or SEC1): {reason}"
    )]
    Key { path: PathBuf, reason: String },
    #[error("{cert} with {key}: not a usable TLS certificate and key: {reason}")]
    Identity { cert: PathBuf, key: PathBuf, reason: String },
}

/// The rustls server configuration for the certificate chain in `cert` (PEM, our
/// certificate first) and the private key in `key` (PEM). Every error names the
/// file at fault.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certificates = |reason: String| TlsError::Certificates { path: cert.to_owned(), reason };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| certificates(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| certificates(e.to_string()))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate { path: cert.to_owned() });
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| TlsError::Key { path: key.to_owned(), reason: e.to_string() })?;
    // ring, as the rest of efm's cryptography: one provider, no C toolchain.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let identity =
        |reason: String| TlsError::Identity { cert: cert.to_owned(), key: key.to_owned(), reason };
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| identity(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| identity(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// One TLS connection as a byte shuttle: [`received`](Self::received) takes what
/// came from the network, [`read`](Self::read) gives the plaintext, [`write`]
/// (Self::write) takes plaintext to send and [`take_output`](Self::take_output)
/// what must go to the network. The handshake runs inside as bytes pass.
pub struct TlsSession {
    conn: rustls::ServerConnection,
}

impl TlsSession {
    pub fn new(config: Arc<rustls::ServerConfig>) -> io::Result<Self> {
        let mut conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
        // The runtimes take the output after every write, and write pieces of
        // bounded size: rustls need not bound what it holds as well.
        conn.set_buffer_limit(None);
        Ok(TlsSession { conn })
    }

    /// Bytes from the network (empty: the peer closed its side). A protocol error
    /// ends the session; the alert that says so is left in the output.
    pub fn received(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            self.conn.read_tls(&mut bytes)?;
            return Ok(());
        }
        while !bytes.is_empty() {
            if self.conn.read_tls(&mut bytes)? == 0 {
                // Taking nothing would loop forever: rustls holds all it will.
                return Err(io::Error::new(io::ErrorKind::InvalidData, "TLS input not taken"));
            }
            self.conn
                .process_new_packets()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        }
        Ok(())
    }

    /// Plaintext received: `Ok(0)` at a clean end, `WouldBlock` when more must be
    /// received first, `UnexpectedEof` when the peer closed without saying so.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.conn.reader().read(buf)
    }

    /// Queue plaintext to send; it is encrypted into the output.
    pub fn write(&mut self, plaintext: &[u8]) -> io::Result<()> {
        self.conn.writer().write_all(plaintext)
    }

    /// Say that we will send no more (`close_notify`).
    pub fn close(&mut self) {
        self.conn.send_close_notify();
    }

    /// Whether anything waits to go to the network.
    pub fn wants_output(&self) -> bool {
        self.conn.wants_write()
    }

    /// What must go to the network now.
    pub fn take_output(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while self.conn.wants_write() {
            // Writing to a Vec does not fail.
            if self.conn.write_tls(&mut out).is_err() {
                break;
            }
        }
        out
    }
}

/// A TLS connection over a blocking `TcpStream`, for threads.
pub struct TlsStream {
    session: TlsSession,
    tcp: TcpStream,
    buf: Vec<u8>,
}

impl TlsStream {
    pub fn new(config: Arc<rustls::ServerConfig>, tcp: TcpStream) -> io::Result<Self> {
        Ok(TlsStream { session: TlsSession::new(config)?, tcp, buf: vec![0; 16 * 1024] })
    }

    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// Send `close_notify`: nothing more comes from us.
    pub fn close(&mut self) -> io::Result<()> {
        self.session.close();
        self.send_output()
    }

    fn send_output(&mut self) -> io::Result<()> {
        while self.session.wants_output() {
            self.tcp.write_all(&self.session.take_output())?;
        }
        Ok(())
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.session.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return other,
            }
            // Handshake messages (or an alert) to send before more comes.
            self.send_output()?;
            let n = self.tcp.read(&mut self.buf)?;
            let received = self.session.received(self.buf.get(..n).unwrap_or_default());
            if received.is_err() {
                // Tell the peer why, if we can; the error is what counts.
                let _ = self.send_output();
            }
            received?;
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.session.write(buf)?;
        self.send_output()?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_output()?;
        self.tcp.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_and_its_key_load_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let e = server_config(&cert, &key).unwrap_err().to_string();
        assert!(e.contains("cert.pem") && e.contains("certificate chain"), "{e}");
        std::fs::write(&cert, "not a certificate").unwrap();
        let e = server_config(&cert, &key).unwrap_err().to_string();
        assert!(e.contains("cert.pem") && e.contains("holds no certificate"), "{e}");

        let rng = ring::rand::SystemRandom::new();
        let now = crate::clock::now();
        let ours = efm_core::crypto::issue::self_signed("987654321", "efm", now, 2, &rng).unwrap();
        let other = efm_core::crypto::issue::self_signed("987654321", "x", now, 2, &rng).unwrap();
        std::fs::write(&cert, ours.certificate_pem()).unwrap();
        std::fs::write(
            &key,
            "-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let e = server_config(&cert, &key).unwrap_err().to_string();
        assert!(e.contains("key.pem") && e.contains("private key"), "{e}");
        std::fs::write(&key, other.private_key_pem()).unwrap();
        let e = server_config(&cert, &key).unwrap_err().to_string();
        assert!(e.contains("cert.pem with") && e.contains("key.pem"), "{e}");
        std::fs::write(&key, ours.private_key_pem()).unwrap();
        assert!(server_config(&cert, &key).is_ok());
    }
}
