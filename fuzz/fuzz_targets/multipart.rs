#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    efm_core::fuzzing::multipart(data);
});
