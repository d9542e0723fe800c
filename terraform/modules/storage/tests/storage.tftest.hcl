mock_provider "aws" {}

variables {
  name = "fml-test-bucket"
}

run "defaults_use_sse_s3" {
  command = plan

  assert {
    condition     = aws_s3_bucket.this.bucket == var.name
    error_message = "Bucket name must come from var.name."
  }

  assert {
    condition     = aws_s3_bucket.this.force_destroy == false
    error_message = "force_destroy must default to false."
  }

  assert {
    condition     = aws_s3_bucket_versioning.this.versioning_configuration[0].status == "Enabled"
    error_message = "Versioning must be enabled."
  }

  assert {
    condition     = one([for r in aws_s3_bucket_server_side_encryption_configuration.this.rule : one(r.apply_server_side_encryption_by_default).sse_algorithm]) == "AES256"
    error_message = "Default encryption must be SSE-S3 (AES256) without a KMS key."
  }

  assert {
    condition = alltrue([
      aws_s3_bucket_public_access_block.this.block_public_acls,
      aws_s3_bucket_public_access_block.this.block_public_policy,
      aws_s3_bucket_public_access_block.this.ignore_public_acls,
      aws_s3_bucket_public_access_block.this.restrict_public_buckets,
    ])
    error_message = "All four public access block flags must be true."
  }

  assert {
    condition     = aws_s3_bucket_ownership_controls.this.rule[0].object_ownership == "BucketOwnerEnforced"
    error_message = "ACLs must be disabled (BucketOwnerEnforced)."
  }

  assert {
    condition     = one([for r in aws_s3_bucket_lifecycle_configuration.this.rule : r if r.id == "expire-noncurrent-versions"][0].noncurrent_version_expiration).noncurrent_days == 30
    error_message = "Noncurrent versions must expire after the default 30 days."
  }

  assert {
    condition     = one([for r in aws_s3_bucket_lifecycle_configuration.this.rule : r if r.id == "abort-incomplete-multipart-uploads"][0].abort_incomplete_multipart_upload).days_after_initiation == 7
    error_message = "Incomplete multipart uploads must be aborted after 7 days."
  }
}

run "tls_only_bucket_policy" {
  command = plan

  # The rendered JSON is only known after apply (the document depends on the bucket ARN),
  # so assert on the document's statements instead.
  assert {
    condition = anytrue([
      for s in data.aws_iam_policy_document.this.statement :
      s.effect == "Deny" && anytrue([
        for c in s.condition :
        c.variable == "aws:SecureTransport" && c.test == "Bool" && contains(c.values, "false")
      ])
    ])
    error_message = "The bucket policy must deny requests without TLS (aws:SecureTransport = false)."
  }
}

run "kms_key_uses_sse_kms" {
  command = plan

  variables {
    kms_key_arn                        = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000"
    noncurrent_version_expiration_days = 7
  }

  assert {
    condition     = one(aws_s3_bucket_server_side_encryption_configuration.this.rule).bucket_key_enabled == true
    error_message = "Bucket keys must be enabled with SSE-KMS."
  }

  assert {
    condition     = one(one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default).sse_algorithm == "aws:kms"
    error_message = "A KMS key must switch encryption to aws:kms."
  }

  assert {
    condition     = one(one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default).kms_master_key_id == var.kms_key_arn
    error_message = "The given KMS key must be used."
  }

  assert {
    condition     = one([for r in aws_s3_bucket_lifecycle_configuration.this.rule : r if r.id == "expire-noncurrent-versions"][0].noncurrent_version_expiration).noncurrent_days == 7
    error_message = "Noncurrent expiration days must follow the variable."
  }
}

run "noncurrent_expiry_limited_to_a_prefix" {
  command = plan

  variables {
    noncurrent_version_expiration_prefix = "_jobs/"
  }

  assert {
    condition     = one([for r in aws_s3_bucket_lifecycle_configuration.this.rule : r if r.id == "expire-noncurrent-versions"][0].filter).prefix == "_jobs/"
    error_message = "Only the given prefix's noncurrent versions may expire."
  }
}

run "rejects_zero_expiration_days" {
  command = plan

  variables {
    noncurrent_version_expiration_days = 0
  }

  expect_failures = [var.noncurrent_version_expiration_days]
}
