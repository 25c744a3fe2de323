//! The console's integration tests, one module per subject, in one test
//! binary: one link of the console, the edge, the worker, the test kit and
//! the WebDriver client instead of one per file.

mod browser;
mod cli;
mod desk;
mod desk_browser;
mod erasure;
mod exports;
mod http;
mod leads;
mod live;
mod media;
mod operator;
mod operator_browser;
mod replies;
mod reports;
