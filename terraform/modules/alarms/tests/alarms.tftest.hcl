mock_provider "aws" {}

variables {
  name = "fml-test"
  dead_letter_queues = {
    train_dlq   = "fml-test-train-dlq"
    predict_dlq = "fml-test-predict-dlq"
    enqueue_dlq = "fml-test-enqueue-dlq"
  }
  dead_letter_function = "fml-test-dead-letter"
  function_names = {
    train   = "fml-test-enqueue-train"
    predict = "fml-test-enqueue-predict"
  }
  api_target_groups = {
    trainer   = { load_balancer = "app/fml-test/1", target_group = "targetgroup/fml-test-trainer/2" }
    predictor = { load_balancer = "app/fml-test/1", target_group = "targetgroup/fml-test-predictor/3" }
  }
}

run "an_alarm_for_every_dead_letter_queue_function_and_api" {
  command = plan

  assert {
    condition = alltrue([
      for k, a in aws_cloudwatch_metric_alarm.dead_letters :
      a.dimensions.QueueName == var.dead_letter_queues[k] && a.threshold == 0 && a.comparison_operator == "GreaterThanThreshold" && a.metric_name == "ApproximateNumberOfMessagesVisible"
    ]) && length(aws_cloudwatch_metric_alarm.dead_letters) == 3
    error_message = "Every dead-letter queue needs an alarm on its first message."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.dead_letters_recorded.dimensions.FunctionName == "fml-test-dead-letter" && aws_cloudwatch_metric_alarm.dead_letters_recorded.metric_name == "Invocations"
    error_message = "The dead-letter function running must raise an alarm."
  }

  assert {
    condition = alltrue([
      for k, a in aws_cloudwatch_metric_alarm.function_errors : a.dimensions.FunctionName == var.function_names[k] && a.metric_name == "Errors" && a.threshold == 0
    ]) && length(aws_cloudwatch_metric_alarm.function_errors) == 2
    error_message = "Every function needs an alarm on its first error."
  }

  assert {
    condition = alltrue([
      for k, a in aws_cloudwatch_metric_alarm.api_5xx :
      a.dimensions.TargetGroup == var.api_target_groups[k].target_group && a.metric_name == "HTTPCode_Target_5XX_Count" && a.threshold == 0
    ]) && length(aws_cloudwatch_metric_alarm.api_5xx) == 2
    error_message = "Every API needs an alarm on its 5xx answers."
  }

  assert {
    condition     = length(aws_sns_topic.this) == 1 && aws_sns_topic.this[0].kms_master_key_id == "alias/aws/sns"
    error_message = "Without a given topic the module makes an encrypted one."
  }
}

run "a_given_topic_is_used" {
  command = plan

  variables {
    alarm_topic_arn = "arn:aws:sns:us-east-1:111122223333:ops"
  }

  assert {
    condition     = length(aws_sns_topic.this) == 0 && alltrue([for a in aws_cloudwatch_metric_alarm.dead_letters : a.alarm_actions == toset([var.alarm_topic_arn])])
    error_message = "A given topic replaces the module's own."
  }
}
