//! The event stream between the services (layer 2, transport).
//!
//! This crate will own the producer and consumer traits (topic, partition
//! key, offset, commit), an in-memory implementation for tests, the embedded
//! durable log of the one-process deployment, the Kafka backend of the scaled
//! deployment (behind a feature, so that other builds skip librdkafka), and a
//! small consumer framework with batching, commits and dead letters for
//! custom consumers. Topic names are Sentry's (`ingest-events`, `events`,
//! `snuba-commit-log`, ...). Nothing is implemented yet.

#![forbid(unsafe_code)]
