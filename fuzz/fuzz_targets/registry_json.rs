#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    efm_core::registry::fuzzing::registry_json(data);
});
