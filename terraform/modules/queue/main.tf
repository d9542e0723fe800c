data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  # The main queue's ARN, built from its name so that the dead-letter queue carries its
  # redrive allow policy from creation. A separate allow-policy resource would have to wait
  # for the main queue and then for the provider's attribute-propagation check (~25 s).
  queue_arn = join(":", [
    "arn", data.aws_partition.current.partition, "sqs", data.aws_region.current.name,
    data.aws_caller_identity.current.account_id, var.name,
  ])
}

resource "aws_sqs_queue" "dlq" {
  name                      = "${var.name}-dlq"
  message_retention_seconds = var.dlq_message_retention_seconds
  sqs_managed_sse_enabled   = true

  # Only the main queue may use the dead-letter queue as its redrive target.
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [local.queue_arn]
  })

  tags = var.tags
}

resource "aws_sqs_queue" "this" {
  name                       = var.name
  visibility_timeout_seconds = var.visibility_timeout_seconds
  message_retention_seconds  = var.message_retention_seconds
  receive_wait_time_seconds  = var.receive_wait_time_seconds
  sqs_managed_sse_enabled    = true

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })

  tags = var.tags
}
