//! Notifications to hosts and safeguarding leads (placeholder: being written).

use serde::Deserialize;

/// Where and how a tenant's notifications go (placeholder).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySettings {}
