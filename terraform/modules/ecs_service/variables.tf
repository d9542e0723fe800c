variable "name" {
  description = "Name of the ECS service, its task family, log group (/ecs/<name>) and security group."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9_-]{0,230}$", var.name))
    error_message = "name must be letters, digits, hyphens or underscores (ECS service and family names)."
  }
}

variable "cluster_name" {
  description = "Name of the ECS cluster (autoscaling resource id and Container Insights dimension)."
  type        = string
}

variable "cluster_arn" {
  description = "ARN of the ECS cluster that runs the service."
  type        = string
}

variable "image" {
  description = "Container image, e.g. <account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>."
  type        = string
}

variable "command" {
  description = "Command overriding the image's CMD (exec form), e.g. [\"python\", \"-m\", \"trainer.worker\"]; null keeps the image's (the API)."
  type        = list(string)
  default     = null
}

variable "cpu" {
  description = "Task CPU units (Fargate: 256, 512, 1024, 2048, 4096, 8192 or 16384)."
  type        = number
  default     = 512

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.cpu)
    error_message = "cpu must be a Fargate CPU size: 256, 512, 1024, 2048, 4096, 8192 or 16384."
  }
}

variable "memory" {
  description = "Task memory in MiB, a Fargate size for the chosen cpu."
  type        = number
  default     = 1024
}

variable "cpu_architecture" {
  description = "CPU architecture of the image: X86_64 or ARM64."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "ephemeral_storage_gib" {
  description = "Task ephemeral storage in GiB (21-200) for large temporary files; null keeps Fargate's 20 GiB."
  type        = number
  default     = null

  validation {
    condition     = var.ephemeral_storage_gib == null || (coalesce(var.ephemeral_storage_gib, 21) >= 21 && coalesce(var.ephemeral_storage_gib, 21) <= 200)
    error_message = "ephemeral_storage_gib must be between 21 and 200."
  }
}

variable "environment" {
  description = "Environment variables of the container (names and values; no secrets)."
  type        = map(string)
  default     = {}
}

variable "container_port" {
  description = "Port the container listens on (an API behind the load balancer); null for a worker without one."
  type        = number
  default     = null
}

variable "stop_timeout_seconds" {
  description = "Seconds between SIGTERM and SIGKILL when a task stops (Fargate allows up to 120): time to finish or release the current job."
  type        = number
  default     = 30

  validation {
    condition     = var.stop_timeout_seconds >= 2 && var.stop_timeout_seconds <= 120
    error_message = "stop_timeout_seconds must be between 2 and 120 (the Fargate maximum)."
  }
}

variable "log_retention_days" {
  description = "Days to keep the service's CloudWatch logs (one of the values CloudWatch Logs accepts)."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention period CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "execution_role_arn" {
  description = "ARN of the task execution role (pulls the image, writes the logs)."
  type        = string
}

variable "task_role_arn" {
  description = "ARN of the task role: the AWS permissions of the application itself."
  type        = string
}

variable "vpc_id" {
  description = "ID of the VPC of the tasks."
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

variable "ingress_security_group_ids" {
  description = "Security groups allowed to reach container_port (the load balancer's); ignored for workers."
  type        = list(string)
  default     = []
}

variable "egress_cidr_blocks" {
  description = "Destinations the tasks may reach over HTTPS (AWS APIs via VPC endpoints or NAT; S3's gateway endpoint uses public ranges)."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "capacity_provider_strategy" {
  description = "Capacity providers of the service (FARGATE for steady APIs, FARGATE_SPOT for interruptible workers) with weight and base."
  type = list(object({
    capacity_provider = string
    weight            = optional(number, 1)
    base              = optional(number, 0)
  }))
  default = [{ capacity_provider = "FARGATE" }]

  validation {
    condition     = length(var.capacity_provider_strategy) > 0 && alltrue([for s in var.capacity_provider_strategy : contains(["FARGATE", "FARGATE_SPOT"], s.capacity_provider)])
    error_message = "capacity_provider_strategy must name FARGATE and/or FARGATE_SPOT."
  }
}

variable "desired_count" {
  description = "Tasks started at creation; autoscaling owns the count afterwards (workers start at 0)."
  type        = number
  default     = 1

  validation {
    condition     = var.desired_count >= 0 && floor(var.desired_count) == var.desired_count
    error_message = "desired_count must be a whole number >= 0."
  }
}

variable "service_registry_arn" {
  description = "ARN of a Cloud Map service the tasks register in (an A record per task, e.g. the Dask scheduler's stable name); null for none."
  type        = string
  default     = null
}

variable "load_balancer" {
  description = "Target group the tasks register in (container_port) and the grace period before its health checks count; null for no load balancer."
  type = object({
    target_group_arn                  = string
    health_check_grace_period_seconds = optional(number, 60)
  })
  default = null
}

variable "autoscaling" {
  description = <<-EOT
    Autoscaling between min_capacity and max_capacity; null for a fixed count. Exactly one of:
    cpu_target (average CPU %), requests_per_target (ALBRequestCountPerTarget, with
    request_count_resource_label) for API services, or queue (SQS queue name and jobs per task)
    for workers, which may scale down to min_capacity 0 and back up from zero.
  EOT
  type = object({
    min_capacity                 = number
    max_capacity                 = number
    cpu_target                   = optional(number)
    requests_per_target          = optional(number)
    request_count_resource_label = optional(string)
    queue = optional(object({
      name             = string
      backlog_per_task = optional(number, 1)
    }))
    scale_in_cooldown_seconds  = optional(number, 300)
    scale_out_cooldown_seconds = optional(number, 60)
  })
  default = null

  validation {
    condition = var.autoscaling == null || length(compact([
      try(tostring(var.autoscaling.cpu_target), ""),
      try(tostring(var.autoscaling.requests_per_target), ""),
      try(var.autoscaling.queue.name, ""),
    ])) == 1
    error_message = "autoscaling needs exactly one of cpu_target, requests_per_target or queue."
  }

  validation {
    condition = var.autoscaling == null || (
      try(var.autoscaling.min_capacity >= 0 && var.autoscaling.max_capacity >= var.autoscaling.min_capacity && var.autoscaling.max_capacity >= 1, false)
    )
    error_message = "autoscaling needs 0 <= min_capacity <= max_capacity and max_capacity >= 1."
  }

  validation {
    condition     = var.autoscaling == null || try(var.autoscaling.queue.name, null) != null || try(var.autoscaling.min_capacity >= 1, false)
    error_message = "Only queue workers may scale to zero: an API service needs min_capacity >= 1."
  }

  validation {
    condition     = var.autoscaling == null || try(var.autoscaling.requests_per_target, null) == null || try(var.autoscaling.request_count_resource_label, null) != null
    error_message = "requests_per_target needs request_count_resource_label (app/<lb>/<id>/targetgroup/<tg>/<id>)."
  }
}

variable "tags" {
  description = "Tags applied to every taggable resource."
  type        = map(string)
  default     = {}
}
