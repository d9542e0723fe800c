variable "aws_endpoint" {
  description = "URL of the local AWS emulator (MiniStack) that every service endpoint points at."
  type        = string
  default     = "https://127.0.0.1:4566"
}

variable "region" {
  description = "AWS region the emulator reports."
  type        = string
  default     = "us-east-1"
}

variable "project" {
  description = "Project name, first part of every resource name."
  type        = string
  default     = "fargate-ml"
}

variable "environment" {
  description = "Environment name, second part of every resource name."
  type        = string
  default     = "local"
}

variable "lambda_zip_path" {
  description = "Path to the enqueue Lambda zip built by the Makefile."
  type        = string
}

variable "max_receive_count" {
  description = "Receives after which a job message moves to its dead-letter queue."
  type        = number
  default     = 3
}

variable "visibility_timeout_seconds" {
  description = "Visibility timeout of the job queues, in seconds."
  type        = number
  default     = 120
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which noncurrent object versions are deleted in every bucket."
  type        = number
  default     = 7
}

variable "tags" {
  description = "Extra tags applied to every taggable resource."
  type        = map(string)
  default     = {}
}
