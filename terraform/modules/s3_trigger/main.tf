data "aws_caller_identity" "current" {}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_158:The logs hold object keys and job ids only; CloudWatch Logs encrypts them at rest with a service key.
  #checkov:skip=CKV_AWS_338:Retention is the caller's choice (log_retention_days); operational logs of a thin enqueue function need weeks, not a year.
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_days

  tags = var.tags
}

resource "aws_lambda_function" "this" {
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

  # S3 invokes the function asynchronously: events that still fail after Lambda's retries
  # are kept on this queue instead of being dropped.
  dynamic "dead_letter_config" {
    for_each = var.dead_letter_queue_arn == null ? [] : [var.dead_letter_queue_arn]

    content {
      target_arn = dead_letter_config.value
    }
  }

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
