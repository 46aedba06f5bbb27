//! The one integration-test binary: every test module, and the helpers they share.
//! One binary links the crate once, which keeps the cold test build short.

mod artifacts_support;
mod cluster_support;
mod registry_support;
mod support;

mod artifacts_bad;
mod artifacts_charms;
mod artifacts_forms;
mod artifacts_inventory;
mod artifacts_resume;
mod artifacts_skopeo;
mod artifacts_step;
mod bundle_charms;
mod bundle_errors;
mod bundle_forms;
mod bundle_gateway;
mod bundle_mapping;
mod bundle_pipeline;
mod bundle_podspec;
mod bundle_rewrite_all;
mod bundle_scan;
mod bundle_steps;
mod checks_step;
mod cli;
mod cluster_checks;
mod cluster_deploy;
mod cluster_runner;
mod cluster_setup;
mod cluster_trust;
mod cluster_watch;
mod crash_resume;
mod demo;
mod deploy_step;
mod e2e_frontends;
mod engine_protocol;
mod push_step;
mod registry_failures;
mod registry_faults;
mod registry_push;
mod registry_resume;
mod release_bundles;
mod secrets;
mod session_store;
mod tui_app;
mod tui_render;
