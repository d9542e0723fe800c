# The alarms an operator of the platform needs, all sent to one SNS topic: a job or an S3 event
# dead-lettered (a dead-letter queue holds anything), an enqueue function failing, an API
# answering 5xx. Each fires on the first occurrence: none of these is normal.

resource "aws_sns_topic" "this" {
  count = var.alarm_topic_arn == null ? 1 : 0

  name              = "${var.name}-alarms"
  kms_master_key_id = "alias/aws/sns"

  tags = var.tags
}

locals {
  topic_arn = coalesce(var.alarm_topic_arn, try(aws_sns_topic.this[0].arn, null))
}

resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  for_each = var.dead_letter_queues

  alarm_name          = "${var.name}-${replace(each.key, "_", "-")}-not-empty"
  alarm_description   = "Messages wait in ${each.value}: see why (job status, logs), fix it, then make redrive (docs/reliability.md)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.topic_arn]
  ok_actions          = [local.topic_arn]

  tags = var.tags
}

# The dead-letter function consumes the dead-letter queues within seconds (the queues' own
# alarms then catch it failing): that it ran at all means a job was dead-lettered or a file
# could not be enqueued. `make redrive` lists and moves the jobs back (docs/reliability.md).
resource "aws_cloudwatch_metric_alarm" "dead_letters_recorded" {
  alarm_name          = "${var.name}-dead-letters-recorded"
  alarm_description   = "A job was dead-lettered (status dead_lettered) or a file could not be enqueued (status failed): see the job's status and logs."
  namespace           = "AWS/Lambda"
  metric_name         = "Invocations"
  dimensions          = { FunctionName = var.dead_letter_function }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.topic_arn]

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "function_errors" {
  for_each = var.function_names

  alarm_name          = "${var.name}-${replace(each.key, "_", "-")}-function-errors"
  alarm_description   = "${each.value} failed on S3 events (after Lambda's retries they wait in the enqueue dead-letter queue)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.topic_arn]

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "api_5xx" {
  for_each = var.api_target_groups

  alarm_name          = "${var.name}-${each.key}-api-5xx"
  alarm_description   = "The ${each.key} API answered 5xx (a bug, a missing permission, storage unavailable): see its log group."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HTTPCode_Target_5XX_Count"
  dimensions          = { LoadBalancer = each.value.load_balancer, TargetGroup = each.value.target_group }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  threshold           = var.api_5xx_per_minute
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.topic_arn]
  ok_actions          = [local.topic_arn]

  tags = var.tags
}
