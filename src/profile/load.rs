//! Placeholder: being written.
use std::path::Path;
use super::Profile;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProfileError(pub String);

#[derive(Debug, thiserror::Error)]
#[error("{errors:?}")]
pub struct LoadError { pub errors: Vec<ProfileError> }

pub fn load_file(_path: &Path) -> Result<Profile, LoadError> { todo!() }
pub fn load_dir(_dir: &Path) -> Result<Vec<Profile>, LoadError> { todo!() }
