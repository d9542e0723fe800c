variable "name" {
  description = "Name of the VPC, prefix of every resource name in it."
  type        = string
}

variable "cidr_block" {
  description = "IPv4 CIDR of the VPC (/16 to /20): private subnets get /20s of a /16 (scaled alike), public subnets /24s."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrhost(var.cidr_block, 0)) && tonumber(split("/", var.cidr_block)[1]) >= 16 && tonumber(split("/", var.cidr_block)[1]) <= 20
    error_message = "cidr_block must be an IPv4 CIDR with a prefix length between /16 and /20."
  }
}

variable "azs" {
  description = "Availability zones to spread the subnets over (at least two; one public and one private subnet each)."
  type        = list(string)

  validation {
    condition     = length(var.azs) >= 2 && length(var.azs) <= 15 && length(distinct(var.azs)) == length(var.azs)
    error_message = "azs must list 2 to 15 distinct availability zones."
  }
}

variable "nat_gateway" {
  description = "Internet egress for the private subnets: \"none\" (VPC endpoints only), \"single\" (one NAT gateway) or \"per_az\" (one per AZ)."
  type        = string
  default     = "none"

  validation {
    condition     = contains(["none", "single", "per_az"], var.nat_gateway)
    error_message = "nat_gateway must be none, single or per_az."
  }
}

variable "interface_endpoints" {
  description = "AWS services reached through interface VPC endpoints (service name suffixes after com.amazonaws.<region>.); S3 always has a gateway endpoint."
  type        = set(string)
  default     = ["sqs", "ecr.api", "ecr.dkr", "logs", "sts"]
}

variable "flow_log_retention_days" {
  description = "Days to keep the VPC flow logs (one of the values CloudWatch Logs accepts)."
  type        = number
  default     = 14

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_days)
    error_message = "flow_log_retention_days must be a retention period CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "flow_log_traffic_type" {
  description = "Traffic recorded by the VPC flow log: ACCEPT, REJECT or ALL."
  type        = string
  default     = "REJECT"

  validation {
    condition     = contains(["ACCEPT", "REJECT", "ALL"], var.flow_log_traffic_type)
    error_message = "flow_log_traffic_type must be ACCEPT, REJECT or ALL."
  }
}

variable "tags" {
  description = "Tags applied to every taggable resource."
  type        = map(string)
  default     = {}
}
