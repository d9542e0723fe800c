variable "name" {
  description = "Prefix of every resource name (<project>-<environment>)."
  type        = string
}

variable "lambda_zip_path" {
  description = "Path to the enqueue Lambda zip built by the Makefile."
  type        = string
}

variable "lambda_environment" {
  description = "Extra environment variables of the enqueue functions (FML_TARGET)."
  type        = map(string)
  default     = {}
}

variable "force_destroy" {
  description = "Allow Terraform to delete the buckets with their objects."
  type        = bool
  default     = false
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which noncurrent object versions are deleted in every bucket."
  type        = number
  default     = 30
}

variable "kms_key_arn" {
  description = "ARN of a KMS key for the buckets (SSE-KMS); null uses SSE-S3."
  type        = string
  default     = null
}

variable "max_receive_count" {
  description = "Receives after which a job message moves to its dead-letter queue."
  type        = number
  default     = 5
}

variable "visibility_timeout_seconds" {
  description = "Visibility timeout of the job queues, in seconds (at least a worker's renewal period)."
  type        = number
  default     = 300
}

variable "log_retention_days" {
  description = "Days to keep the enqueue functions' logs."
  type        = number
  default     = 14
}

variable "local_operator_arn" {
  description = "Local stack only: the principal that assumes every workload role (the emulator's account root); null on AWS."
  type        = string
  default     = null
}

variable "user_principal_arns" {
  description = "Principals that may assume the platform's user role; empty trusts the account."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags applied to every taggable resource."
  type        = map(string)
  default     = {}
}
