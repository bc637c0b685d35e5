"""The S3 gateway: Pachyderm's ``branch.repo`` buckets over the API, for any S3 client."""

from raypachy.server.s3.app import create_gateway, create_s3_app

__all__ = ["create_gateway", "create_s3_app"]
