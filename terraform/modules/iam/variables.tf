variable "name" {
  description = "Name prefix of the roles (<name>-task-execution, <name>-trainer-api, ...)."
  type        = string
}

variable "bucket_arns" {
  description = "ARNs of the platform's buckets by role."
  type = object({
    datasets    = string
    models      = string
    inference   = string
    predictions = string
  })
}

variable "train_queue_arn" {
  description = "ARN of the train queue (the trainer API sends to it, the trainer worker consumes it)."
  type        = string
}

variable "predict_queue_arn" {
  description = "ARN of the predict queue (the predictor worker consumes it)."
  type        = string
}

variable "kms_key_arn" {
  description = "ARN of the buckets' KMS key, if they use SSE-KMS: every task role may then encrypt and decrypt with it."
  type        = string
  default     = null
}

variable "ecr_repository_arns" {
  description = "ARNs of the ECR repositories the execution role may pull images from."
  type        = list(string)

  validation {
    condition     = length(var.ecr_repository_arns) > 0 && alltrue([for a in var.ecr_repository_arns : !strcontains(a, "*")])
    error_message = "ecr_repository_arns must list repositories, without wildcards."
  }
}

variable "log_group_name_prefix" {
  description = "Prefix of the services' log group names (e.g. /ecs/<name>-): the execution role may write there only."
  type        = string

  validation {
    condition     = length(var.log_group_name_prefix) >= 6 && !strcontains(var.log_group_name_prefix, "*")
    error_message = "log_group_name_prefix must be a literal prefix of at least 6 characters."
  }
}

variable "tags" {
  description = "Tags applied to every taggable resource."
  type        = map(string)
  default     = {}
}
