"""A Kafka broker that authenticates (SASL/PLAIN) and authorizes (KRaft's StandardAuthorizer, deny by default).

It exists to prove deploy/grants/kafka-acls.sh: the shipped ACLs are applied with Kafka's own AclCommand, exactly
as an operator would, and the checks then run as the `sentinel` principal they grant. `admin` is the only super
user (besides the controller's internal listener); every other principal can do only what an ACL allows.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping
from pathlib import Path

from devstack.kafka import KafkaService, _java_argv, start_kafka

ADMIN = ("admin", "admin-secret-for-tests")


def _jaas(users: Mapping[str, str]) -> str:
    entries = " ".join(f'user_{name}="{password}"' for name, password in users.items())
    return (f'org.apache.kafka.common.security.plain.PlainLoginModule required username="{ADMIN[0]}" '
            f'password="{ADMIN[1]}" {entries};')


def sasl_client_config(user: str, password: str) -> dict[str, str]:
    """librdkafka settings for a client logging in as `user`."""
    return {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN", "sasl.username": user,
            "sasl.password": password}


def start_secured_kafka(users: Mapping[str, str], *, timeout: float = 120.0) -> KafkaService:
    """A throwaway single-node broker; `users` maps principal names to passwords (admin is added)."""
    everyone = {ADMIN[0]: ADMIN[1], **users}
    # The client listener keeps its name (start_kafka builds it) but speaks SASL_PLAINTEXT; the controller
    # listener stays internal plaintext, whose ANONYMOUS principal must be a super user for KRaft to work.
    extra = {
        "listener.security.protocol.map": "PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
        "sasl.enabled.mechanisms": "PLAIN",
        "sasl.mechanism.inter.broker.protocol": "PLAIN",
        "listener.name.plaintext.plain.sasl.jaas.config": _jaas(everyone),
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found": "false",
        "super.users": f"User:{ADMIN[0]};User:ANONYMOUS",
    }
    svc = start_kafka(extra_config=extra, client_config=sasl_client_config(*ADMIN), timeout=timeout)
    svc.remove_data_on_stop = True
    return svc


def admin_properties(path: Path) -> Path:
    """The --command-config file an operator passes to kafka-acls.sh."""
    path.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
                    "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
                    f'username="{ADMIN[0]}" password="{ADMIN[1]}";\n')
    return path


def kafka_acls_command(bin_dir: Path) -> Path:
    """A `kafka-acls.sh` on PATH that runs Kafka's own AclCommand from the devstack jars, as the Kafka
    distribution's script does, so the shipped grants script runs unmodified."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    argv = _java_argv("org.apache.kafka.tools.AclCommand", "256m")
    script = bin_dir / "kafka-acls.sh"
    quoted = " ".join(f"'{a}'" for a in argv)
    script.write_text(f'#!/bin/sh\nexec {quoted} "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script
