variable "function_name" {
  description = "Name of the enqueue Lambda function (also used for its log group)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.function_name))
    error_message = "function_name must be 1-64 letters, digits, hyphens or underscores."
  }
}

variable "source_bucket_name" {
  description = "Name of the bucket whose ObjectCreated events trigger the function."
  type        = string
}

variable "source_bucket_arn" {
  description = "ARN of the source bucket (scopes the invoke permission and the read policy)."
  type        = string
}

variable "queue_url" {
  description = "URL of the SQS queue the function sends job messages to."
  type        = string
}

variable "status_bucket_name" {
  description = "Name of the bucket that receives the job status records (_jobs/<job_id>.json)."
  type        = string
}

variable "job_kind" {
  description = "Kind of job the function enqueues: \"train\" or \"predict\"."
  type        = string

  validation {
    condition     = contains(["train", "predict"], var.job_kind)
    error_message = "job_kind must be \"train\" or \"predict\"."
  }
}

variable "role_arn" {
  description = "ARN of the function's execution role (the platform's enqueue role, with its policy already attached)."
  type        = string
}

variable "lambda_zip_path" {
  description = "Path to the deployment zip built outside Terraform (by the Makefile)."
  type        = string
}

variable "handler" {
  description = "Lambda handler entry point inside the zip."
  type        = string
  default     = "lambdas.enqueue.handler"
}

variable "runtime" {
  description = "Lambda runtime identifier."
  type        = string
  default     = "python3.12"
}

variable "timeout_seconds" {
  description = "Lambda timeout in seconds."
  type        = number
  default     = 30

  validation {
    condition     = var.timeout_seconds >= 1 && var.timeout_seconds <= 900
    error_message = "timeout_seconds must be between 1 and 900."
  }
}

variable "memory_size" {
  description = "Lambda memory in MB."
  type        = number
  default     = 256

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "memory_size must be between 128 and 10240 MB."
  }
}

variable "log_retention_days" {
  description = "Days to keep the function's CloudWatch logs (one of the values CloudWatch Logs accepts)."
  type        = number
  default     = 14

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention period CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "filter_suffixes" {
  description = "Object key suffixes that trigger the function (one notification per suffix; must not overlap)."
  type        = list(string)
  default     = [".csv", ".parquet", ".jsonl"]

  validation {
    condition     = length(var.filter_suffixes) > 0 && length(distinct(var.filter_suffixes)) == length(var.filter_suffixes)
    error_message = "filter_suffixes must be a non-empty list of distinct suffixes."
  }
}

variable "on_failure_destination_arn" {
  description = "ARN of the SQS queue that receives the S3 events the function failed on after Lambda's retries (with the error)."
  type        = string
}

variable "environment" {
  description = "Extra environment variables for the function; the FML_* variables set by this module take precedence."
  type        = map(string)
  default     = {}
}

variable "tags" {
  description = "Tags applied to every taggable resource."
  type        = map(string)
  default     = {}
}
