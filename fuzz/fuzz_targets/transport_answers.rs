#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    efm_core::transport::fuzzing::transport_answers(data);
});
