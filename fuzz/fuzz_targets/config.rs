#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| banditore_fuzz::config(data));
