variable "name" {
  description = "Prefix of the cluster's names: the services <name>-scheduler and <name>-worker (their task families, log groups /ecs/<name>-* and security groups)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9_-]{0,200}$", var.name))
    error_message = "name must be letters, digits, hyphens or underscores (ECS service and family names)."
  }
}

variable "cluster_name" {
  description = "Name of the ECS cluster that runs the two services."
  type        = string
}

variable "cluster_arn" {
  description = "ARN of the ECS cluster that runs the two services."
  type        = string
}

variable "image" {
  description = "Container image of the scheduler and the workers: the trainer's, which carries dask/distributed, xgboost and the project's code the tasks run."
  type        = string
}

variable "execution_role_arn" {
  description = "ARN of the task execution role (pulls the image, writes the logs)."
  type        = string
}

variable "task_role_arn" {
  description = "ARN of the role of the Dask tasks (reads the datasets bucket, writes nothing)."
  type        = string
}

variable "environment" {
  description = "Environment variables of the scheduler and the workers (no secrets)."
  type        = map(string)
  default     = {}
}

variable "vpc_id" {
  description = "ID of the VPC of the tasks and of the private DNS namespace."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the tasks (they get no public IP)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) > 0
    error_message = "subnet_ids must name at least one subnet."
  }
}

variable "client_security_group_ids" {
  description = "Security groups of the Dask clients (the trainer worker's tasks): they reach the scheduler on 8786 and the workers on any TCP port, and get the matching egress."
  type        = list(string)

  validation {
    condition     = length(var.client_security_group_ids) > 0 && alltrue([for sg in var.client_security_group_ids : startswith(sg, "sg-")])
    error_message = "client_security_group_ids must name at least one security group (IDs, not CIDR blocks)."
  }
}

variable "namespace_name" {
  description = "Name of the Cloud Map private DNS namespace created in the VPC; the scheduler answers at scheduler.<namespace_name>."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.namespace_name)) && length(var.namespace_name) <= 200
    error_message = "namespace_name must be a lowercase DNS name with at least two labels, e.g. dask.fargate-ml-dev.internal."
  }
}

variable "scheduler_cpu" {
  description = "CPU units of the scheduler task (Fargate: 256 to 16384). It also runs XGBoost's tracker."
  type        = number
  default     = 1024

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.scheduler_cpu)
    error_message = "scheduler_cpu must be a Fargate CPU size: 256, 512, 1024, 2048, 4096, 8192 or 16384."
  }
}

variable "scheduler_memory" {
  description = "Memory of the scheduler task in MiB, a Fargate size for scheduler_cpu."
  type        = number
  default     = 4096
}

variable "worker_cpu" {
  description = "CPU units of each worker task (1024 to 16384): the worker runs one Dask worker with one thread per vCPU (--nthreads)."
  type        = number
  default     = 4096

  validation {
    condition     = contains([1024, 2048, 4096, 8192, 16384], var.worker_cpu)
    error_message = "worker_cpu must be a Fargate CPU size of at least one vCPU: 1024, 2048, 4096, 8192 or 16384."
  }
}

variable "worker_memory" {
  description = "Memory of each worker task in MiB, a Fargate size for worker_cpu (the Dask worker's memory limit follows it)."
  type        = number
  default     = 16384
}

variable "worker_count" {
  description = "Worker tasks a Dask job runs on: what the client scales the worker service to (the services rest at 0)."
  type        = number
  default     = 4

  validation {
    condition     = var.worker_count >= 1 && var.worker_count <= 100 && floor(var.worker_count) == var.worker_count
    error_message = "worker_count must be a whole number between 1 and 100."
  }
}

variable "worker_ephemeral_storage_gib" {
  description = "Ephemeral storage of each worker task in GiB (21-200), where Dask spills partitions; null keeps Fargate's 20 GiB."
  type        = number
  default     = 50

  validation {
    condition     = var.worker_ephemeral_storage_gib == null || (coalesce(var.worker_ephemeral_storage_gib, 21) >= 21 && coalesce(var.worker_ephemeral_storage_gib, 21) <= 200)
    error_message = "worker_ephemeral_storage_gib must be between 21 and 200."
  }
}

variable "worker_spot" {
  description = "Run the workers on Fargate Spot. A reclaimed worker fails the XGBoost job it was part of (the collective needs every worker), so the default is on-demand."
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "Days to keep the services' CloudWatch logs (one of the values CloudWatch Logs accepts)."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags applied to every taggable resource."
  type        = map(string)
  default     = {}
}
