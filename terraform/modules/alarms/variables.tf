variable "name" {
  description = "Prefix of the alarm and topic names."
  type        = string
}

variable "dead_letter_queues" {
  description = "Dead-letter queue names by label (train_dlq, predict_dlq, enqueue_dlq): an alarm each when one holds a message."
  type        = map(string)
}

variable "dead_letter_function" {
  description = "Name of the dead-letter function: an alarm when it runs (something was dead-lettered)."
  type        = string
}

variable "function_names" {
  description = "Lambda function names by label: an alarm each on any error."
  type        = map(string)
}

variable "api_target_groups" {
  description = "Per API service, the ALB and target group ARN suffixes (the CloudWatch dimensions) of its 5xx alarm."
  type = map(object({
    load_balancer = string
    target_group  = string
  }))
}

variable "api_5xx_per_minute" {
  description = "5xx answers per minute an API may give before its alarm fires (0: the first one)."
  type        = number
  default     = 0

  validation {
    condition     = var.api_5xx_per_minute >= 0
    error_message = "api_5xx_per_minute must be 0 or more."
  }
}

variable "alarm_topic_arn" {
  description = "SNS topic the alarms notify; null creates <name>-alarms (encrypted) for you to subscribe to."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags applied to every taggable resource."
  type        = map(string)
  default     = {}
}
