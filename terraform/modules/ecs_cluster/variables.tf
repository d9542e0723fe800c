variable "name" {
  description = "Name of the ECS cluster."
  type        = string
}

variable "container_insights" {
  description = "Container Insights level: \"enabled\", \"enhanced\" (per-task metrics, extra cost) or \"disabled\". The workers' backlog scaling reads its RunningTaskCount metric."
  type        = string
  default     = "enabled"

  validation {
    condition     = contains(["enabled", "enhanced", "disabled"], var.container_insights)
    error_message = "container_insights must be enabled, enhanced or disabled."
  }
}

variable "default_capacity_provider_strategy" {
  description = "Default capacity provider strategy of the cluster (FARGATE and/or FARGATE_SPOT, with weight and base)."
  type = list(object({
    capacity_provider = string
    weight            = optional(number, 1)
    base              = optional(number, 0)
  }))
  default = [{ capacity_provider = "FARGATE" }]

  validation {
    condition     = length(var.default_capacity_provider_strategy) > 0 && alltrue([for s in var.default_capacity_provider_strategy : contains(["FARGATE", "FARGATE_SPOT"], s.capacity_provider)])
    error_message = "default_capacity_provider_strategy must name FARGATE and/or FARGATE_SPOT."
  }
}

variable "ecr_repository_arns" {
  description = "ARNs of the ECR repositories the task execution role may pull images from."
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
