variable "region" {
  description = "AWS region the emulator reports."
  type        = string
  default     = "us-east-1"
}

variable "lambda_zip_path" {
  description = "Path to the enqueue Lambda zip built by the Makefile."
  type        = string
}
