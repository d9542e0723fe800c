output "topic_arn" {
  description = "SNS topic the alarms notify (subscribe an email or a pager to it)."
  value       = local.topic_arn
}

output "alarm_names" {
  description = "Every alarm's name, by kind: dead_letters (queues, and the dead-letter function running), function_errors, api_5xx."
  value = {
    dead_letters    = concat([for a in aws_cloudwatch_metric_alarm.dead_letters : a.alarm_name], [aws_cloudwatch_metric_alarm.dead_letters_recorded.alarm_name])
    function_errors = [for a in aws_cloudwatch_metric_alarm.function_errors : a.alarm_name]
    api_5xx         = [for a in aws_cloudwatch_metric_alarm.api_5xx : a.alarm_name]
  }
}
