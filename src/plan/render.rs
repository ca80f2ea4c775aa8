//! The plan printer: Terraform-style text, a unified diff view, and JSON.
