"""The per-partition data of a consumer-lag finding: logfmt lines a person and a script can both read."""

from sentinel_checks._kafka_lag_partitions import PartitionRow, partition_line, partition_lines


def row(partition: int, committed: int | None, lag: int, verdict: str = "OK") -> PartitionRow:
    return PartitionRow(partition=partition, committed=committed, log_start=0, log_end=25, lag=lag,
                        lag_seconds=1019.6, estimated=committed is None, owned=True, verdict=verdict)


def test_a_partition_is_one_line_of_key_value_pairs() -> None:
    line = partition_line(row(3, 10, 15, "DATA LOSS"))
    assert line == ("partition=3 committed=10 log_start=0 log_end=25 lag=15 lag_seconds=1020 estimated=no "
                    "owned=yes verdict=DATA_LOSS")
    fields = dict(pair.split("=") for pair in line.split(" "))
    assert fields["lag"] == "15" and fields["verdict"] == "DATA_LOSS"


def test_a_partition_without_committed_offset_says_so() -> None:
    assert "committed=- " in partition_line(row(0, None, 0, "NO OFFSET"))
    assert "estimated=yes" in partition_line(row(0, None, 0))


def test_the_lines_keep_the_given_order_and_count_what_was_left_out() -> None:
    text = partition_lines([row(7, 1, 24, "STALL"), row(2, 20, 5)], total=40)
    assert text.splitlines()[0].startswith("partition=7 ")
    assert text.splitlines()[1].startswith("partition=2 ")
    assert text.splitlines()[2] == "... 38 more partition(s)"
    assert partition_lines([row(0, 1, 1)], total=1).count("\n") == 0
