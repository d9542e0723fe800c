variable "name" {
  description = "Name of the HTTP API, its VPC link, security group and access log group."
  type        = string
}

variable "vpc_id" {
  description = "ID of the VPC of the load balancer."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets the VPC link places its network interfaces in."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "The VPC link should span at least two subnets (AZs)."
  }
}

variable "target_security_group_id" {
  description = "Security group of the load balancer: the VPC link may reach it on the integrations' ports only."
  type        = string
}

variable "integrations" {
  description = "Per service: the load balancer listener it is reached on, that listener's port, and its routes (\"METHOD /path/{param}\"). Each route belongs to one service."
  type = map(object({
    listener_arn = string
    port         = number
    routes       = list(string)
  }))

  validation {
    condition = alltrue(flatten([
      for i in values(var.integrations) : [for r in i.routes : can(regex("^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|ANY) /[A-Za-z0-9_./{}+-]*$", r))]
    ]))
    error_message = "Routes must look like \"METHOD /path/{param}\"."
  }

  validation {
    condition     = length(flatten([for i in values(var.integrations) : i.routes])) == length(distinct(flatten([for i in values(var.integrations) : i.routes])))
    error_message = "A route may belong to one service only."
  }
}

variable "jwt_authorizer" {
  description = "JWT authorizer (issuer URL, audiences, identity source) used by every route instead of IAM (SigV4); null keeps IAM authorization."
  type = object({
    issuer          = string
    audience        = list(string)
    identity_source = optional(string, "$request.header.Authorization")
  })
  default = null
}

variable "tls_server_name" {
  description = "Host name API Gateway verifies in the load balancer's certificate when the listeners use HTTPS; null for HTTP listeners."
  type        = string
  default     = null
}

variable "integration_timeout_milliseconds" {
  description = "Milliseconds API Gateway waits for a service (50-30000)."
  type        = number
  default     = 30000

  validation {
    condition     = var.integration_timeout_milliseconds >= 50 && var.integration_timeout_milliseconds <= 30000
    error_message = "integration_timeout_milliseconds must be between 50 and 30000."
  }
}

variable "throttling_rate_limit" {
  description = "Steady-state requests per second allowed on each route."
  type        = number
  default     = 50

  validation {
    condition     = var.throttling_rate_limit > 0
    error_message = "throttling_rate_limit must be positive."
  }
}

variable "throttling_burst_limit" {
  description = "Burst of requests allowed on each route above the rate limit."
  type        = number
  default     = 100

  validation {
    condition     = var.throttling_burst_limit > 0 && floor(var.throttling_burst_limit) == var.throttling_burst_limit
    error_message = "throttling_burst_limit must be a positive whole number."
  }
}

variable "access_log_retention_days" {
  description = "Days to keep the API's access logs (one of the values CloudWatch Logs accepts)."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.access_log_retention_days)
    error_message = "access_log_retention_days must be a retention period CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "tags" {
  description = "Tags applied to every taggable resource."
  type        = map(string)
  default     = {}
}
