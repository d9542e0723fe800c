variable "region" {
  description = "AWS region of the stack."
  type        = string
  default     = "us-east-1"
}

variable "project" {
  description = "Project name, first part of every resource name (<project>-<environment>-...); null keeps the platform module's default. The platform module checks both names."
  type        = string
  default     = null
}

variable "environment" {
  description = "Environment name, second part of every resource name (the platform module checks it)."
  type        = string
  default     = "dev"
}

variable "image_tags" {
  description = "Tags of the images pushed to the stack's ECR repositories (e.g. the git commit)."
  type = object({
    trainer   = string
    predictor = string
  })
}

variable "lambda_zip_path" {
  description = "Path to the enqueue Lambda zip built by the Makefile (make lambda-zip)."
  type        = string
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC (/16 to /20)."
  type        = string
  default     = "10.40.0.0/16"
}

variable "az_count" {
  description = "Availability zones the subnets, load balancer and tasks spread over."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 6
    error_message = "az_count must be between 2 and 6."
  }
}

variable "nat_gateway" {
  description = "Internet egress of the private subnets: none (VPC endpoints only), single or per_az."
  type        = string
  default     = "none"
}

variable "api_services" {
  description = "Size and scaling of the two API services: task cpu/memory, min/max tasks, and the metric they track (cpu: average CPU %, requests: requests per task per minute)."
  type = object({
    trainer = optional(object({
      cpu          = optional(number, 1024)
      memory       = optional(number, 4096)
      min_count    = optional(number, 1)
      max_count    = optional(number, 4)
      scale_on     = optional(string, "cpu")
      target_value = optional(number, 60)
      web_workers  = optional(number, 2)
      web_threads  = optional(number, 4)
    }), {})
    predictor = optional(object({
      cpu          = optional(number, 1024)
      memory       = optional(number, 2048)
      min_count    = optional(number, 1)
      max_count    = optional(number, 4)
      scale_on     = optional(string, "cpu")
      target_value = optional(number, 60)
      web_workers  = optional(number, 2)
      web_threads  = optional(number, 8) # measured: more requests share each group-commit PUT
    }), {})
  })
  default = {}

  validation {
    condition     = alltrue([for s in [var.api_services.trainer, var.api_services.predictor] : contains(["cpu", "requests"], s.scale_on) && s.min_count >= 1 && s.max_count >= s.min_count])
    error_message = "API services scale on cpu or requests, with 1 <= min_count <= max_count."
  }
}

variable "workers" {
  description = "Size and scaling of the two queue workers: task cpu/memory, max tasks (min is 0), jobs per task the backlog policy aims at, Fargate Spot or not, and the predictor's extra ephemeral storage (the trainer's is trainer_worker_ephemeral_storage_gib)."
  type = object({
    trainer = optional(object({
      cpu              = optional(number, 2048)
      memory           = optional(number, 8192)
      max_count        = optional(number, 4)
      backlog_per_task = optional(number, 1)
      spot             = optional(bool, true)
    }), {})
    predictor = optional(object({
      cpu                   = optional(number, 1024)
      memory                = optional(number, 4096)
      max_count             = optional(number, 4)
      backlog_per_task      = optional(number, 1)
      spot                  = optional(bool, true)
      ephemeral_storage_gib = optional(number)
    }), {})
  })
  default = {}

  validation {
    condition     = alltrue([for w in [var.workers.trainer, var.workers.predictor] : w.max_count >= 1 && w.backlog_per_task > 0])
    error_message = "Workers need max_count >= 1 and a positive backlog_per_task."
  }
}

variable "trainer_worker_ephemeral_storage_gib" {
  description = "Ephemeral storage of each trainer worker task in GiB (21-200): training streams datasets to local disk and may use XGBoost's external memory there."
  type        = number
  default     = 100

  validation {
    condition     = var.trainer_worker_ephemeral_storage_gib >= 21 && var.trainer_worker_ephemeral_storage_gib <= 200
    error_message = "trainer_worker_ephemeral_storage_gib must be between 21 and 200."
  }
}

variable "dask" {
  description = "The Dask cluster the trainer worker trains large datasets on (modules/dask_cluster, docs/aws.md): scheduler and worker task sizes, the worker tasks a job scales to, the workers' ephemeral storage (GiB, 21-200, null for 20) and Fargate Spot for the workers. Both services rest at 0 tasks."
  type = object({
    scheduler_cpu                = optional(number, 1024)
    scheduler_memory             = optional(number, 4096)
    worker_cpu                   = optional(number, 4096)
    worker_memory                = optional(number, 16384)
    worker_count                 = optional(number, 4)
    worker_ephemeral_storage_gib = optional(number, 50)
    worker_spot                  = optional(bool, false)
  })
  default  = {}
  nullable = false
}

variable "worker_visibility_timeout_seconds" {
  description = "Seconds a job message stays hidden while a worker holds it (FML_WORKER_VISIBILITY_TIMEOUT; the heartbeat renews it every third). The queues' visibility timeout is set to the same value."
  type        = number
  default     = 120

  validation {
    condition     = var.worker_visibility_timeout_seconds >= 30 && var.worker_visibility_timeout_seconds <= 43200
    error_message = "worker_visibility_timeout_seconds must be between 30 and 43200."
  }
}

variable "sync_train_max_seconds" {
  description = "Training seconds the trainer API spends within a request before answering 202 (FML_SYNC_TRAIN_MAX_SECONDS); below API Gateway's 30 s."
  type        = number
  default     = 20

  validation {
    condition     = var.sync_train_max_seconds > 0 && var.sync_train_max_seconds <= 25
    error_message = "sync_train_max_seconds must be between 0 and 25 (API Gateway gives up after 30 s)."
  }
}

variable "user_principal_arns" {
  description = "Principals that may assume the platform's user role (put datasets and files to score, read predictions); empty trusts the account, whose IAM policies then say who."
  type        = list(string)
  default     = []
}

variable "max_receive_count" {
  description = "Receives after which a job message moves to its dead-letter queue."
  type        = number
  default     = 5
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which noncurrent object versions (old models, old predictions) are deleted."
  type        = number
  default     = 90
}

variable "kms_key_arn" {
  description = "ARN of a KMS key for SSE-KMS on every bucket (the roles get Decrypt/GenerateDataKey on it); null uses SSE-S3."
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete non-empty buckets and ECR repositories (dev stacks only)."
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "Days to keep the services', Lambda's, API's and VPC flow logs."
  type        = number
  default     = 30
}

variable "log_level" {
  description = "Log level of the services and workers (FML_LOG_LEVEL)."
  type        = string
  default     = "INFO"
}

variable "alb_idle_timeout_seconds" {
  description = "Idle timeout of the internal ALB: >= 30 (API Gateway's limit, above the synchronous training budget) and < 75 (gunicorn's keep-alive)."
  type        = number
  default     = 60

  validation {
    condition     = var.alb_idle_timeout_seconds >= 30 && var.alb_idle_timeout_seconds < 75
    error_message = "alb_idle_timeout_seconds must be between 30 and 74."
  }
}

variable "alb_tls" {
  description = "HTTPS on the internal ALB: an ACM certificate ARN and the host name in it that API Gateway verifies; null keeps HTTP inside the VPC."
  type = object({
    certificate_arn = string
    server_name     = string
  })
  default = null
}

variable "jwt_authorizer" {
  description = "JWT authorizer (issuer URL, audiences) for every route instead of IAM (SigV4); null keeps IAM."
  type = object({
    issuer   = string
    audience = list(string)
  })
  default = null
}

variable "api_throttling" {
  description = "API Gateway throttling applied to every route: steady requests per second and burst."
  type = object({
    rate_limit  = optional(number, 50)
    burst_limit = optional(number, 100)
  })
  default = {}
}

variable "tags" {
  description = "Extra tags applied to every taggable resource."
  type        = map(string)
  default     = {}
}

variable "alarm_topic_arn" {
  description = "SNS topic the alarms notify (dead letters, function errors, API 5xx); null creates <project>-<environment>-alarms."
  type        = string
  default     = null
}
