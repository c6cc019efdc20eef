//! The seven failback steps, one per file.

pub mod await_boot;
pub mod await_failback;
pub mod common;
pub mod create_nic;
pub mod create_vm;
pub mod items;
pub mod ownership;
pub mod process_server;
pub mod register;
pub mod site_checks;
pub mod teardown;
pub mod validate;

pub use await_boot::AwaitBoot;
pub use await_failback::AwaitFailback;
pub use create_nic::CreateNic;
pub use create_vm::CreateVm;
pub use register::Register;
pub use teardown::Teardown;
pub use validate::Validate;
