output "api_id" {
  description = "ID of the HTTP API."
  value       = aws_apigatewayv2_api.this.id
}

output "api_endpoint" {
  description = "Base URL of the API (https://<id>.execute-api.<region>.amazonaws.com); the $default stage adds no path."
  value       = aws_apigatewayv2_api.this.api_endpoint
}

output "execution_arn" {
  description = "Execution ARN of the API, for execute-api:Invoke policies (<execution_arn>/*/<METHOD>/<path>)."
  value       = aws_apigatewayv2_api.this.execution_arn
}

output "vpc_link_security_group_id" {
  description = "ID of the VPC link's security group (the load balancer admits it)."
  value       = aws_security_group.vpc_link.id
}

output "routes" {
  description = "Service serving each route key."
  value       = local.routes
}

output "authorization_type" {
  description = "Authorization of every route: AWS_IAM (SigV4) or JWT."
  value       = local.authorization_type
}

output "access_log_group_name" {
  description = "Name of the CloudWatch log group of the access logs."
  value       = aws_cloudwatch_log_group.access.name
}
