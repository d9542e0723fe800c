variable "name" {
  description = "Name of the load balancer (at most 32 characters), prefix of its security group and target groups."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9-]{0,30}[A-Za-z0-9]$", var.name)) && !startswith(var.name, "internal-")
    error_message = "name must be 2-32 letters, digits or hyphens, not starting or ending with a hyphen, nor with \"internal-\"."
  }
}

variable "vpc_id" {
  description = "ID of the VPC of the load balancer and its targets."
  type        = string
}

variable "vpc_cidr_block" {
  description = "IPv4 CIDR of the VPC: the load balancer may reach its targets' ports there."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the internal load balancer (at least two AZs)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "An ALB needs subnets in at least two availability zones."
  }
}

variable "services" {
  description = "One listener and target group per service: its port (listener and container alike), health check path and deregistration delay."
  type = map(object({
    port                         = number
    health_check_path            = optional(string, "/health")
    deregistration_delay_seconds = optional(number, 30)
  }))

  validation {
    condition     = length(var.services) > 0 && length(distinct([for s in values(var.services) : s.port])) == length(var.services)
    error_message = "services must name at least one service, each with a port of its own."
  }

  validation {
    condition     = alltrue([for s in values(var.services) : s.port >= 1 && s.port <= 65535 && s.deregistration_delay_seconds >= 0 && s.deregistration_delay_seconds <= 3600])
    error_message = "Ports must be 1-65535 and deregistration delays 0-3600 seconds."
  }
}

variable "ingress_security_group_ids" {
  description = "Security groups allowed to reach the listeners (the API Gateway VPC link's)."
  type        = list(string)
}

variable "idle_timeout_seconds" {
  description = "Seconds a connection may stay idle: at least API Gateway's 30 s integration limit (so a synchronous training request that fits through API Gateway never idles out), and below the targets' keep-alive (gunicorn: 75 s) so the ALB closes idle connections first."
  type        = number
  default     = 60

  validation {
    condition     = var.idle_timeout_seconds >= 30 && var.idle_timeout_seconds <= 4000
    error_message = "idle_timeout_seconds must be between 30 (API Gateway's integration timeout) and 4000."
  }
}

variable "certificate_arn" {
  description = "ARN of an ACM certificate: the listeners use HTTPS with it; null keeps them on HTTP (TLS ends at API Gateway)."
  type        = string
  default     = null
}

variable "ssl_policy" {
  description = "TLS policy of HTTPS listeners."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "deletion_protection" {
  description = "Refuse to delete the load balancer (turn off before destroying the stack)."
  type        = bool
  default     = false
}

variable "access_logs_bucket" {
  description = "Name of an S3 bucket (with the ELB log-delivery policy) for access logs; null disables them."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags applied to every taggable resource."
  type        = map(string)
  default     = {}
}
