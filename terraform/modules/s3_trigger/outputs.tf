output "function_name" {
  description = "Name of the enqueue Lambda function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the enqueue Lambda function."
  value       = aws_lambda_function.this.arn
}

output "log_group_arn" {
  description = "ARN of the function's CloudWatch log group (its role writes there)."
  value       = aws_cloudwatch_log_group.this.arn
}

output "log_group_name" {
  description = "Name of the function's CloudWatch log group."
  value       = aws_cloudwatch_log_group.this.name
}
