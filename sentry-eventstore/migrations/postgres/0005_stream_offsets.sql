-- How far a consumer has added a stream into this database, per partition:
-- written in the same transaction as what it added, so that records read
-- again after a crash (before the stream commit) are not added twice.
CREATE TABLE stream_offsets (
    consumer_group TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition_id BIGINT NOT NULL,
    -- The offset of the next record to add.
    next_offset BIGINT NOT NULL,
    PRIMARY KEY (consumer_group, topic, partition_id)
);
