variable "name" {
  description = "Name of the ECR repository (one per image)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$", var.name)) && length(var.name) <= 256
    error_message = "name must be a valid ECR repository name (lowercase letters, digits, . _ - and / separators)."
  }
}

variable "image_tag_mutability" {
  description = "IMMUTABLE (a tag always names the same image) or MUTABLE."
  type        = string
  default     = "IMMUTABLE"

  validation {
    condition     = contains(["IMMUTABLE", "MUTABLE"], var.image_tag_mutability)
    error_message = "image_tag_mutability must be IMMUTABLE or MUTABLE."
  }
}

variable "max_image_count" {
  description = "Images kept in the repository; older ones are expired by the lifecycle policy."
  type        = number
  default     = 30

  validation {
    condition     = var.max_image_count >= 1 && floor(var.max_image_count) == var.max_image_count
    error_message = "max_image_count must be a whole number >= 1."
  }
}

variable "untagged_image_expiration_days" {
  description = "Days after which untagged images (superseded layers of re-pushed builds) are expired."
  type        = number
  default     = 7

  validation {
    condition     = var.untagged_image_expiration_days >= 1 && floor(var.untagged_image_expiration_days) == var.untagged_image_expiration_days
    error_message = "untagged_image_expiration_days must be a whole number >= 1."
  }
}

variable "kms_key_arn" {
  description = "ARN of a customer-managed KMS key for the images; null uses the AWS-managed aws/ecr key."
  type        = string
  default     = null
}

variable "force_delete" {
  description = "Allow Terraform to delete the repository even when it still holds images."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags applied to every taggable resource."
  type        = map(string)
  default     = {}
}
