data "aws_caller_identity" "current" {}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_158:The logs hold object keys and job ids only; CloudWatch Logs encrypts them at rest with a service key.
  #checkov:skip=CKV_AWS_338:Retention is the caller's choice (log_retention_days); operational logs of a thin enqueue function need weeks, not a year.
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_days

  tags = var.tags
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:Failed S3 events go to the on-failure destination (aws_lambda_function_event_invoke_config below), which carries the error too; a dead_letter_config would be a second copy.
  #checkov:skip=CKV_AWS_117:The function only calls S3 and SQS APIs; a VPC would add NAT or endpoints for nothing (and the local emulator has no VPC).
  #checkov:skip=CKV_AWS_115:Reserved concurrency is taken from the account pool (10 on new accounts); the invocation rate is bounded by uploads.
  #checkov:skip=CKV_AWS_272:The zip is built and deployed by the project's own Makefile; there is no signing profile to validate against.
  #checkov:skip=CKV_AWS_173:The environment holds only queue URLs, bucket names and the job kind, no secrets; Lambda encrypts it at rest with a service key.
  #checkov:skip=CKV_AWS_50:X-Ray tracing is not used by this platform; logs carry the job id for correlation.
  function_name    = var.function_name
  role             = var.role_arn
  filename         = var.lambda_zip_path
  source_code_hash = filebase64sha256(var.lambda_zip_path)
  handler          = var.handler
  runtime          = var.runtime
  timeout          = var.timeout_seconds
  memory_size      = var.memory_size

  environment {
    variables = merge(var.environment, {
      FML_JOB_KIND      = var.job_kind
      FML_QUEUE_URL     = var.queue_url
      FML_STATUS_BUCKET = var.status_bucket_name
    })
  }

  tags = var.tags

  # The log group must exist (with its retention) before the first invocation creates it.
  depends_on = [aws_cloudwatch_log_group.this]
}

# S3 invokes the function asynchronously: an event it still fails on after Lambda's retries goes
# to the on-failure destination (the dead-letter function then marks the file's job failed).
resource "aws_lambda_function_event_invoke_config" "this" {
  function_name          = aws_lambda_function.this.function_name
  maximum_retry_attempts = 2

  destination_config {
    on_failure {
      destination = var.on_failure_destination_arn
    }
  }
}

resource "aws_lambda_permission" "this" {
  statement_id   = "AllowS3Invoke"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.this.function_name
  principal      = "s3.amazonaws.com"
  source_arn     = var.source_bucket_arn
  source_account = data.aws_caller_identity.current.account_id
}

# A bucket has exactly one notification configuration: this resource owns it for the
# source bucket, so nothing else may manage notifications on that bucket.
resource "aws_s3_bucket_notification" "this" {
  bucket = var.source_bucket_name

  dynamic "lambda_function" {
    for_each = var.filter_suffixes

    content {
      id                  = "${var.function_name}-${trimprefix(lambda_function.value, ".")}"
      lambda_function_arn = aws_lambda_function.this.arn
      events              = ["s3:ObjectCreated:*"]
      filter_suffix       = lambda_function.value
    }
  }

  depends_on = [aws_lambda_permission.this]
}
