variable "target" {
  description = "Where the stack runs: aws (ECS tasks and Lambda assume the roles) or local (the emulator, whose account root assumes every role for the local processes). The functions get it as FML_TARGET."
  type        = string

  validation {
    condition     = contains(["aws", "local"], var.target)
    error_message = "target must be aws or local."
  }
}

variable "project" {
  description = "Project name, first part of every resource name (<project>-<environment>-...); null keeps fargate-ml."
  type        = string
  default     = "fargate-ml"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,11}$", var.project))
    error_message = "project must be 1-12 lowercase letters, digits or hyphens (names must fit S3, ALB and target group limits)."
  }
}

variable "environment" {
  description = "Environment name, second part of every resource name."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,8}$", var.environment))
    error_message = "environment must be 1-9 lowercase letters, digits or hyphens."
  }
}

variable "lambda_zip_path" {
  description = "Path to the enqueue Lambda zip built by the Makefile."
  type        = string
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
  default     = 120
}

variable "log_retention_days" {
  description = "Days to keep the enqueue functions' logs."
  type        = number
  default     = 14
}

variable "dask_cluster" {
  description = "envs/aws: the ECS cluster and service names (scheduler, worker) of the Dask cluster (modules/dask_cluster). The iam module then adds the `dask` role (reads datasets) and lets the trainer worker scale exactly these services; null (envs/local) for neither."
  type = object({
    cluster_name  = string
    service_names = list(string)
  })
  default = null
}

variable "user_principal_arns" {
  description = "Principals that may assume the platform's user role; empty trusts the account."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Extra tags applied to every taggable resource, besides Project and Environment."
  type        = map(string)
  default     = {}
}

variable "events_queue" {
  description = "Subscribe a queue (<name>-job-events, raw delivery) to the job-events topic: where the local stack's events are read."
  type        = bool
  default     = false
}
