variable "name" {
  description = "Name of the S3 bucket."
  type        = string
}

variable "force_destroy" {
  description = "Allow Terraform to delete the bucket even when it still holds objects (and object versions)."
  type        = bool
  default     = false
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which noncurrent object versions are permanently deleted."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "noncurrent_version_expiration_days must be a whole number >= 1."
  }
}

variable "noncurrent_version_expiration_prefix" {
  description = "Key prefix whose noncurrent versions expire (\"\" = the whole bucket). The models bucket keeps every model version and alias history: only its _jobs/ prefix expires."
  type        = string
  default     = ""
}

variable "kms_key_arn" {
  description = "ARN of a KMS key for SSE-KMS; null uses S3-managed keys (SSE-S3, AES256)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags applied to every taggable resource."
  type        = map(string)
  default     = {}
}
