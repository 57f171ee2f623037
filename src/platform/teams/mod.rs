//! Microsoft Teams adapter (placeholder: being written).

use serde::Deserialize;

/// A Microsoft Entra app registration of the organisation's tenant (placeholder).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamsSettings {}
