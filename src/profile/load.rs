//! Reading profile files and following `extends`: the entry points [`load_file`] and
//! [`load_dir`]. Each file is checked by `check` and merged onto its parent by
//! `merge`; this file only finds the files, resolves each once, and reports cycles and
//! missing parents at the `extends` line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use toml::Spanned;

use super::Profile;
use super::check::Checker;
use super::error::{LoadError, ProfileError, did_you_mean};
use super::merge::merge;

/// Loads one profile and resolves its `extends` chain from the same folder.
///
/// `default_timezone` is the tenant's time zone: used for cover hours without a `timezone`, and
/// for waiver expiry dates.
///
/// # Errors
/// Every problem in the file and its parents, each with its file, line, column and field.
pub fn load_file(path: &Path, default_timezone: Tz) -> Result<Profile, LoadError> {
    let mut loader = Loader::new(default_timezone);
    let profile = loader.resolve(path, &mut Vec::new());
    match profile {
        Some(p) if loader.errors.is_empty() => Ok(p),
        _ => Err(loader.finish(path)),
    }
}

/// Loads every `*.toml` profile in `dir` (not its subfolders; files whose name starts with `.`
/// are skipped), sorted by name. Reports all errors of all files together. A folder without
/// any profile is an error: a sweep with nothing to compare against would pass silently.
///
/// # Errors
/// Every problem in every file (or the folder that could not be read, or has no profile).
pub fn load_dir(dir: &Path, default_timezone: Tz) -> Result<Vec<Profile>, LoadError> {
    let mut loader = Loader::new(default_timezone);
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return Err(LoadError::from_errors(vec![ProfileError::io(dir, &e)])),
    };
    let mut files = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => {
                let path = entry.path();
                let hidden = entry.file_name().to_string_lossy().starts_with('.');
                let is_toml = path.extension().is_some_and(|e| e == "toml");
                if is_toml && !hidden && path.is_file() {
                    files.push(path);
                }
            }
            Err(e) => loader.errors.push(ProfileError::io(dir, &e)),
        }
    }
    files.sort();
    if files.is_empty() && loader.errors.is_empty() {
        loader.errors.push(ProfileError::whole(
            dir,
            "no profiles here: expected at least one `*.toml` file",
        ));
    }
    let mut profiles = Vec::new();
    for file in &files {
        if let Some(p) = loader.resolve(file, &mut Vec::new()) {
            profiles.push(p);
        }
    }
    if loader.errors.is_empty() {
        profiles.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(profiles)
    } else {
        Err(loader.finish(dir))
    }
}

/// Resolves files once each, however many profiles extend them, and gathers every error.
struct Loader {
    default_timezone: Tz,
    /// Resolved profiles by path; `None` when the file or one of its parents has errors.
    resolved: HashMap<PathBuf, Option<Profile>>,
    errors: Vec<ProfileError>,
}

impl Loader {
    fn new(default_timezone: Tz) -> Self {
        Loader {
            default_timezone,
            resolved: HashMap::new(),
            errors: Vec::new(),
        }
    }

    fn finish(self, path: &Path) -> LoadError {
        let mut errors = self.errors;
        if errors.is_empty() {
            // Not expected: a failed resolution always records why. Never fail silently.
            errors.push(ProfileError::whole(path, "could not be loaded"));
        }
        LoadError::from_errors(errors)
    }

    /// Resolves the profile at `path`; `stack` holds the files whose `extends` led here.
    fn resolve(&mut self, path: &Path, stack: &mut Vec<PathBuf>) -> Option<Profile> {
        if let Some(done) = self.resolved.get(path) {
            return done.clone();
        }
        let result = self.resolve_uncached(path, stack);
        self.resolved.insert(path.to_path_buf(), result.clone());
        result
    }

    fn resolve_uncached(&mut self, path: &Path, stack: &mut Vec<PathBuf>) -> Option<Profile> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => {
                self.errors.push(ProfileError::io(path, &e));
                return None;
            }
        };
        let mut checker = Checker::new(path, &text);
        let raw = checker.document();
        let mut ok = checker.errors.is_empty();
        let mut parent = None;
        if let Some(raw) = &raw
            && let Some(extends) = &raw.extends
        {
            match Self::parent_path(path, extends, stack, &mut checker) {
                Some(parent_path) => {
                    stack.push(path.to_path_buf());
                    parent = self.resolve(&parent_path, stack);
                    stack.pop();
                    ok &= parent.is_some();
                }
                None => ok = false,
            }
        }
        let Some(raw) = raw else {
            self.errors.append(&mut checker.errors);
            return None;
        };
        let profile = merge(
            path,
            parent.as_ref(),
            &raw,
            self.default_timezone,
            &mut checker,
        );
        ok &= checker.errors.is_empty();
        self.errors.append(&mut checker.errors);
        if ok { Some(profile) } else { None }
    }

    /// The file named by `extends`, or `None` (with an error) when it is missing or a cycle.
    fn parent_path(
        path: &Path,
        extends: &Spanned<String>,
        stack: &[PathBuf],
        checker: &mut Checker<'_>,
    ) -> Option<PathBuf> {
        let name = extends.get_ref();
        let parent = path.with_file_name(format!("{name}.toml"));
        if parent == path || stack.contains(&parent) {
            let start = stack
                .iter()
                .position(|p| *p == parent)
                .unwrap_or(stack.len());
            let mut chain: Vec<String> = stack[start..].iter().map(|p| stem(p)).collect();
            chain.push(stem(path));
            chain.push(name.clone());
            checker.error(
                extends.span(),
                "extends",
                format!("`extends` makes a cycle: {}", chain.join(" → ")),
            );
            return None;
        }
        if !parent.is_file() {
            let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
            let siblings = sibling_stems(folder.unwrap_or(Path::new(".")));
            let suggestion = did_you_mean(name, siblings.iter().map(String::as_str));
            checker.error(
                extends.span(),
                "extends",
                format!("no profile `{name}` to extend: there is no `{name}.toml` in this folder{suggestion}"),
            );
            return None;
        }
        Some(parent)
    }
}

/// A profile's name: its file name without `.toml`.
pub(crate) fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn sibling_stems(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| stem(&p))
        .collect()
}
