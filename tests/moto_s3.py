"""moto's S3 server on 127.0.0.1 for the tests: a real HTTP S3 peer (with conditional PUTs), started here.

Every test module that needs S3 starts its own with :func:`moto_s3` (a module fixture), so modules
never share buckets.  Credentials are explicit dummies: nothing comes from the environment or ~/.aws.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

ACCESS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


@contextmanager
def moto_s3(bucket: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Start the server on a free port with ``bucket`` in it; yield ``(endpoint, storage_options)``."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client("s3", endpoint_url=endpoint, **ACCESS).create_bucket(Bucket=bucket)
        yield (
            endpoint,
            {
                "key": ACCESS["aws_access_key_id"],
                "secret": ACCESS["aws_secret_access_key"],
                "client_kwargs": {"endpoint_url": endpoint, "region_name": ACCESS["region_name"]},
                "skip_instance_cache": True,
            },
        )
    finally:
        server.stop()
