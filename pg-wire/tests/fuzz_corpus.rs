//! Replays every file of the fuzz corpus (`fuzz/corpus/<target>/`) and of the crash regressions
//! (`fuzz/regressions/<target>/`) through the same target functions cargo-fuzz runs
//! (`pg_wire::proto::fuzzing`), on the stable toolchain, so every test run checks them.

use std::fs;
use std::panic;
use std::path::{Path, PathBuf};

use pg_wire::proto::fuzzing::{TARGETS, Target};

/// The `fuzz/` directory beside this crate.
fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `dir`, sorted; none if it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `target` on every file, collecting the names of those that panicked.
fn replay(target: Target, files: &[PathBuf]) -> Vec<String> {
    let mut failures = Vec::new();
    for file in files {
        let data = fs::read(file).unwrap();
        if panic::catch_unwind(|| target(&data)).is_err() {
            failures.push(file.display().to_string());
        }
    }
    failures
}

#[test]
fn every_target_has_a_seed_corpus() {
    for (name, _) in TARGETS {
        let dir = fuzz_dir().join("corpus").join(name);
        assert!(
            !files(&dir).is_empty(),
            "no corpus for target {name} in {}",
            dir.display()
        );
        assert!(
            fuzz_dir()
                .join("fuzz_targets")
                .join(format!("{name}.rs"))
                .is_file(),
            "no cargo-fuzz target for {name}"
        );
    }
}

#[test]
fn corpus_and_regressions_replay_without_panics() {
    let mut failures = Vec::new();
    let mut count = 0;
    for (name, target) in TARGETS {
        for kind in ["corpus", "regressions"] {
            let files = files(&fuzz_dir().join(kind).join(name));
            count += files.len();
            failures.extend(replay(*target, &files));
        }
    }
    assert!(count > 0);
    assert!(failures.is_empty(), "inputs that panicked: {failures:#?}");
    eprintln!("replayed {count} fuzz inputs");
}
