//! Keys, certificates and CMS: the detached CAdES signature over the ASiC manifest, and
//! the CMS EnvelopedData around the whole ASiC.
//!
//! ASN.1 here is small and fixed, so we write DER with a few lines ([`der_write`]) and
//! read BER/DER with our own bounded reader ([`ber`]): the reference writes BER with
//! indefinite lengths (BouncyCastle's stream generator), which the RustCrypto `der` crate
//! does not read, and the envelope must be read as a stream anyway.

pub mod ber;
pub mod cert;
pub mod der_write;
pub mod envelope_read;
pub mod envelope_write;
pub mod issue;
pub mod key_unwrap;
pub mod keys;
pub mod oid;
pub mod rng;
pub mod signed_data;
