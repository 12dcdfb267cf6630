#!/usr/bin/env bash
# Kafka ACLs for Sentinel's principal (User:sentinel): describe and read-for-timestamps only, never write, never
# commit, never join a group. Run with an admin client config; replace the bootstrap and the command config.
#
# What Sentinel's Kafka client calls (sentinel/sources/kafka.py) and the ACL each needs:
#   Metadata (list_topics), ListOffsets (earliest/latest)   Topic:DESCRIBE
#   ListGroups (list_consumer_groups)                       Group:DESCRIBE (the broker lists the groups a principal
#                                                             may describe; Cluster:DESCRIBE is not needed, and
#                                                             tests/integration/test_kafka_acls.py shows it)
#   DescribeGroups, OffsetFetch (committed offsets)         Group:DESCRIBE + Topic:DESCRIBE
#   Fetch of one record per partition (lag in seconds),    Topic:READ  (assign-only consumer: no JoinGroup,
#     by an assign-only consumer                                         no OffsetCommit, so no Group:READ)
# Each line below is needed: the test drops one at a time on a deny-by-default broker and the check says what is
# missing. With these, Sentinel cannot produce, commit a group's offsets, join a group, or create/delete a topic.
#   Not DescribeConfigs: data loss is seen from the earliest offset passing the committed one (ListOffsets).
set -euo pipefail
BOOTSTRAP="${BOOTSTRAP:-kafka:9092}"
ADMIN_CONFIG="${ADMIN_CONFIG:-admin.properties}"
acl() { kafka-acls.sh --bootstrap-server "$BOOTSTRAP" --command-config "$ADMIN_CONFIG" --add --allow-principal User:sentinel "$@"; }

acl --operation Describe --operation Read --topic cdc. --resource-pattern-type prefixed
acl --operation Describe --operation Read --topic payment.events
acl --operation Describe --group '*'
