//! The patient request queue (seed 002, "Patient Portal Queue" and "Un-Archiving Patient Portal
//! Requests").
//!
//! - [`portal`]: portal users make requests for a patient they hold a grant (covering requests)
//!   for, and follow each one's status and timeline.
//! - [`staff`]: the queue of open requests of one's locations, the searchable archive, dismissal
//!   (completed or will not be completed), un-archiving ("mark as un-reviewed"), and recording a
//!   reply sent by secure message with its disposition.
//! - [`helpers`]: the helper button's next step per request type, behind the [`RequestHelpers`]
//!   trait so that an EMR integration can replace the built-in tasks.
//!
//! Every use case checks its rule from `portal_core::requests`, writes its rows, its timeline
//! entry and its audit row in one transaction. Replies are sent by portal-messaging (portal-http
//! calls both): this crate never writes messages; it links a sent one to its request.

mod error;
pub mod helpers;
pub mod portal;
pub mod staff;
mod view;

pub use error::QueueError;
pub use helpers::{BuiltInHelpers, HelperOutcome, RequestHelpers};
pub use view::{RequestView, TaskView, TimelineEntry};
