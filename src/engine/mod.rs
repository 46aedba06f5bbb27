//! The engine: runs the steps, records every finished unit in the session, and reports typed
//! events. It knows nothing of terminals; front ends drive it with `Command`s.

pub mod cancel;
pub mod context;
pub mod driver;
pub mod events;
pub mod fingerprint;
pub mod outputs;
pub mod step_data;
pub mod steps;
pub mod units;
pub mod work;

pub use cancel::Cancel;
pub use context::StepContext;
pub use driver::{Engine, EngineOptions};
pub use events::{
    Answer, Command, EngineEvent, InputKind, InputRequest, Level, Progress, Quantity,
    StateSnapshot, StopReason,
};
pub use work::{StepError, StepFuture, StepWork};
