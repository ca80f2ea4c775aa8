//! The plan printer: Terraform-style text, a unified diff view, and JSON.

use crate::plan::Plan;
use crate::state::NetState;

/// Terraform-style text of a plan.
pub fn human(plan: &Plan, desired: &NetState, live: &NetState) -> String {
    let _ = (plan, desired, live);
    todo!("render::human")
}

/// Unified diff of each namespace the plan touches, live against desired.
pub fn state_diff(plan: &Plan, desired: &NetState, live: &NetState) -> String {
    let _ = (plan, desired, live);
    todo!("render::state_diff")
}

/// The plan as JSON.
pub fn json(plan: &Plan) -> serde_json::Value {
    let _ = plan;
    todo!("render::json")
}
