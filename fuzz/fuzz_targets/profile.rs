//! Any bytes as a profile file: loading must give a profile or errors with positions, never a
//! panic, and every error must name the file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("chaperone-fuzz-{}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let path = dir.join("fuzzed.toml");
    if std::fs::write(&path, text).is_err() {
        return;
    }
    if let Err(e) = chaperone::profile::load_file(&path, chrono_tz::Europe::London) {
        for error in &e.errors {
            assert!(error.to_string().contains("fuzzed.toml"), "{error}");
        }
    }
});
