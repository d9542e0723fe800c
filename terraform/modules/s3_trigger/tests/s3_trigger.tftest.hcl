mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  function_name      = "fml-test-enqueue-train"
  source_bucket_name = "fml-test-datasets"
  source_bucket_arn  = "arn:aws:s3:::fml-test-datasets"
  queue_url          = "https://sqs.us-east-1.amazonaws.com/111122223333/fml-test-train"
  status_bucket_name = "fml-test-models"
  role_arn           = "arn:aws:iam::111122223333:role/fml-test-enqueue"
  # The failure destination of the S3 events the function gives up on.
  on_failure_destination_arn = "arn:aws:sqs:us-east-1:111122223333:fml-test-enqueue-dlq"
  job_kind                   = "train"
  # Any existing file will do: filebase64sha256 only hashes its bytes.
  lambda_zip_path = "tests/fixtures/dummy.zip"
}

run "notification_wired_to_function" {
  command = plan

  # The function ARN is computed; give it a known value to check the notification targets it.
  override_resource {
    target          = aws_lambda_function.this
    override_during = plan
    values = {
      arn = "arn:aws:lambda:us-east-1:111122223333:function:fml-test-enqueue-train"
    }
  }

  assert {
    condition     = alltrue([for n in aws_s3_bucket_notification.this.lambda_function : n.lambda_function_arn == aws_lambda_function.this.arn])
    error_message = "Every notification must invoke the enqueue function."
  }

  assert {
    condition     = aws_s3_bucket_notification.this.bucket == var.source_bucket_name
    error_message = "The notification must be set on the source bucket."
  }

  assert {
    condition     = length(aws_s3_bucket_notification.this.lambda_function) == length(var.filter_suffixes)
    error_message = "There must be one lambda_function notification per suffix."
  }

  assert {
    condition     = toset([for n in aws_s3_bucket_notification.this.lambda_function : n.filter_suffix]) == toset([".csv", ".parquet", ".jsonl"])
    error_message = "Notifications must filter on the default suffixes."
  }

  assert {
    condition     = alltrue([for n in aws_s3_bucket_notification.this.lambda_function : n.events == toset(["s3:ObjectCreated:*"])])
    error_message = "Every notification must fire on s3:ObjectCreated:*."
  }

  assert {
    condition     = aws_lambda_permission.this.principal == "s3.amazonaws.com" && aws_lambda_permission.this.source_arn == var.source_bucket_arn
    error_message = "Only S3 events from the source bucket may invoke the function."
  }

  assert {
    condition     = aws_lambda_permission.this.source_account == "111122223333"
    error_message = "The permission must be limited to this account (guards against bucket-name takeover)."
  }

  assert {
    condition     = aws_lambda_permission.this.action == "lambda:InvokeFunction"
    error_message = "The permission must grant lambda:InvokeFunction."
  }
}

run "function_configuration" {
  command = plan

  assert {
    condition     = aws_lambda_function.this.function_name == var.function_name && aws_lambda_function.this.handler == "lambdas.enqueue.handler" && aws_lambda_function.this.runtime == "python3.12"
    error_message = "Function name, handler and runtime must follow the variables and defaults."
  }

  assert {
    condition     = aws_lambda_function.this.source_code_hash == filebase64sha256("tests/fixtures/dummy.zip")
    error_message = "The code hash must be taken from the zip so a rebuilt zip is redeployed."
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables["FML_QUEUE_URL"] == var.queue_url
    error_message = "FML_QUEUE_URL must be the queue URL."
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables["FML_JOB_KIND"] == "train"
    error_message = "FML_JOB_KIND must be the job kind."
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables["FML_STATUS_BUCKET"] == var.status_bucket_name
    error_message = "FML_STATUS_BUCKET must be the status bucket."
  }

  assert {
    condition     = aws_cloudwatch_log_group.this.name == "/aws/lambda/${var.function_name}" && aws_cloudwatch_log_group.this.retention_in_days == 14
    error_message = "The log group must be the function's own, with a 14-day retention by default."
  }
}

run "extra_environment_cannot_override_module_variables" {
  command = plan

  variables {
    job_kind        = "predict"
    filter_suffixes = [".csv"]
    environment = {
      FML_TARGET   = "local"
      FML_JOB_KIND = "train"
    }
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables["FML_TARGET"] == "local"
    error_message = "Extra environment variables must be passed through."
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables["FML_JOB_KIND"] == "predict"
    error_message = "FML_JOB_KIND set by the module must win over var.environment."
  }

  assert {
    condition     = length(aws_s3_bucket_notification.this.lambda_function) == 1
    error_message = "One suffix must give one notification."
  }
}

run "rejects_unknown_job_kind" {
  command = plan

  variables {
    job_kind = "score"
  }

  expect_failures = [var.job_kind]
}

run "rejects_empty_suffix_list" {
  command = plan

  variables {
    filter_suffixes = []
  }

  expect_failures = [var.filter_suffixes]
}

run "on_failure_destination" {
  command = plan

  assert {
    condition     = one(aws_lambda_function_event_invoke_config.this.destination_config[0].on_failure).destination == var.on_failure_destination_arn
    error_message = "Failed asynchronous invocations must go to the on-failure destination."
  }

  assert {
    condition     = aws_lambda_function.this.role == var.role_arn
    error_message = "The function must run under the role it is given."
  }
}
