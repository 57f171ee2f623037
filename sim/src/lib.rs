//! Stateful simulators of video platforms' REST APIs, for testing chaperone without a real
//! platform account.
//!
//! Each simulator is written from the vendor's published spec (`shared/specs/`), independently of
//! chaperone's own clients: this crate must never depend on the `chaperone` crate, so a
//! misunderstanding of the platform cannot be shared by the client and the simulator it is tested
//! against.

pub mod teams;
pub mod zoom;

pub use teams::{
    GraphFault, GraphFaultKind, GraphFaultTarget, GraphSimStats, SimCertificate, TEAMS_DEMO_DOMAIN,
    TeamsGroup, TeamsMeeting, TeamsScenario, TeamsSim, TeamsSimConfig, TeamsSimInfo, TeamsUser,
};
pub use zoom::{
    DEMO_DOMAIN, FIRST_UNSAFE_ID, Fault, FaultKind, FaultTarget, RateWindow, Scenario, SimAccount,
    SimGroup, SimMeeting, SimStats, SimUser, ZoomSim, ZoomSimConfig,
};
