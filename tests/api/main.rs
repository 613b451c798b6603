//! The one integration-test binary: the real server over a socket, real files, both backends.

mod fixtures;
mod helpers;

mod auth;
mod av;
mod cli;
mod cms;
mod crash;
mod delete;
mod detail;
mod downloads;
mod healing;
mod history;
mod image_info;
mod images;
mod list;
mod ops;
mod otlp_metrics;
mod prometheus;
mod rebuild;
mod thumbnails;
mod traces;
mod update;
mod upload;
