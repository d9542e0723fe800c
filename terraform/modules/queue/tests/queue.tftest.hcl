mock_provider "aws" {
  # Give both queues known ARNs/URLs at plan time so the JSON redrive policies can be
  # decoded and checked.
  override_resource {
    target          = aws_sqs_queue.dlq
    override_during = plan
    values = {
      id  = "https://sqs.us-east-1.amazonaws.com/111122223333/fml-test-train-dlq"
      arn = "arn:aws:sqs:us-east-1:111122223333:fml-test-train-dlq"
      url = "https://sqs.us-east-1.amazonaws.com/111122223333/fml-test-train-dlq"
    }
  }

  override_resource {
    target          = aws_sqs_queue.this
    override_during = plan
    values = {
      id  = "https://sqs.us-east-1.amazonaws.com/111122223333/fml-test-train"
      arn = "arn:aws:sqs:us-east-1:111122223333:fml-test-train"
      url = "https://sqs.us-east-1.amazonaws.com/111122223333/fml-test-train"
    }
  }
}

variables {
  name = "fml-test-train"
}

run "defaults" {
  command = plan

  assert {
    condition     = aws_sqs_queue.this.name == "fml-test-train" && aws_sqs_queue.dlq.name == "fml-test-train-dlq"
    error_message = "The dead-letter queue must be named \"<name>-dlq\"."
  }

  assert {
    condition     = jsondecode(aws_sqs_queue.this.redrive_policy).maxReceiveCount == 5
    error_message = "maxReceiveCount must default to 5."
  }

  assert {
    condition     = jsondecode(aws_sqs_queue.this.redrive_policy).deadLetterTargetArn == aws_sqs_queue.dlq.arn
    error_message = "The redrive policy must target the dead-letter queue."
  }

  assert {
    condition     = aws_sqs_queue.this.sqs_managed_sse_enabled && aws_sqs_queue.dlq.sqs_managed_sse_enabled
    error_message = "Both queues must use SQS-managed server-side encryption."
  }

  assert {
    condition     = aws_sqs_queue.this.visibility_timeout_seconds == 300
    error_message = "Visibility timeout must default to 300 seconds."
  }

  assert {
    condition     = aws_sqs_queue.this.receive_wait_time_seconds == 20
    error_message = "Queues must long-poll for 20 seconds by default."
  }

  assert {
    condition     = aws_sqs_queue.this.message_retention_seconds == 345600 && aws_sqs_queue.dlq.message_retention_seconds == 1209600
    error_message = "Retention must default to 4 days (queue) and 14 days (dead-letter queue)."
  }

  assert {
    condition = (
      jsondecode(aws_sqs_queue.dlq.redrive_allow_policy).redrivePermission == "byQueue"
      && length(jsondecode(aws_sqs_queue.dlq.redrive_allow_policy).sourceQueueArns) == 1
      && endswith(jsondecode(aws_sqs_queue.dlq.redrive_allow_policy).sourceQueueArns[0], ":sqs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:fml-test-train")
    )
    error_message = "Only the main queue may redrive into the dead-letter queue."
  }
}

run "custom_values" {
  command = plan

  variables {
    max_receive_count          = 3
    visibility_timeout_seconds = 120
  }

  assert {
    condition     = jsondecode(aws_sqs_queue.this.redrive_policy).maxReceiveCount == var.max_receive_count
    error_message = "maxReceiveCount must follow var.max_receive_count."
  }

  assert {
    condition     = aws_sqs_queue.this.visibility_timeout_seconds == 120
    error_message = "Visibility timeout must follow var.visibility_timeout_seconds."
  }
}

run "rejects_zero_max_receive_count" {
  command = plan

  variables {
    max_receive_count = 0
  }

  expect_failures = [var.max_receive_count]
}

run "rejects_too_large_max_receive_count" {
  command = plan

  variables {
    max_receive_count = 1001
  }

  expect_failures = [var.max_receive_count]
}
