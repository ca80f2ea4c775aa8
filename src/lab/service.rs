//! A service a node declares (`services:`): a TCP or UDP port it listens on, so that
//! port checks have something to reach.

use std::fmt;
use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::topology::ServiceProto;

/// One service: a port of a protocol, on one address of its node or on all of them.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub struct Service {
    pub proto: ServiceProto,
    pub port: u16,
    /// The address it listens on; none for every address of the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<IpAddr>,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.proto.name(), self.port)?;
        if let Some(a) = self.address {
            write!(f, " on {a}")?;
        }
        Ok(())
    }
}
