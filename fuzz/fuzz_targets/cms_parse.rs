#![no_main]
// The streaming CMS EnvelopedData reader must return an error, never panic, on any bytes.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    efm_core::package::fuzzing::cms_parse(data);
});
