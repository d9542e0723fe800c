variable "aws_endpoint" {
  description = "URL of the local AWS emulator (MiniStack) that every service endpoint points at."
  type        = string
  default     = "https://127.0.0.1:4566"
}

variable "region" {
  description = "AWS region the emulator reports."
  type        = string
  default     = "us-east-1"
}

variable "lambda_zip_path" {
  description = "Path to the enqueue Lambda zip built by the Makefile."
  type        = string
}
