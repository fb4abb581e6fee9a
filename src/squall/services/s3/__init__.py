"""Amazon S3: buckets, objects (streamed bodies in the blob area), versions, multipart uploads."""
