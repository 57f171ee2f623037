//! The engine and the sweep did not need a Teams special case: the adapter maps, the engine does
//! not branch on the platform (issue 5, "What it must show"). A platform name or a
//! `PlatformKind::` variant in their code would be such a branch.

use std::path::Path;

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir)
        .expect("readable source folder")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            // Unit-test fixtures build sessions of some platform; they are not the engine.
            && path.file_name().is_none_or(|n| n != "tests.rs")
        {
            out.push(path);
        }
    }
}

#[test]
fn the_engine_and_the_sweep_do_not_branch_on_platform() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src/engine"), &mut files);
    files.push(root.join("src/sweep.rs"));
    assert!(files.len() >= 2);
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable source");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for banned in ["PlatformKind::", "Teams", "teams::", "zoom::"] {
                assert!(
                    !code.contains(banned),
                    "{}:{}: `{banned}` in the engine or sweep: map in the adapter instead\n{line}",
                    file.display(),
                    n + 1
                );
            }
        }
    }
}
