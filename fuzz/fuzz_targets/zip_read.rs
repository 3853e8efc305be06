#![no_main]
// The streaming zip reader must return an error, never panic, on any bytes.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    efm_core::package::fuzzing::zip_read(data);
});
