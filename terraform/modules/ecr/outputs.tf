output "name" {
  description = "Name of the repository."
  value       = aws_ecr_repository.this.name
}

output "arn" {
  description = "ARN of the repository."
  value       = aws_ecr_repository.this.arn
}

output "url" {
  description = "URL of the repository (<account>.dkr.ecr.<region>.amazonaws.com/<name>), for docker push and task images."
  value       = aws_ecr_repository.this.repository_url
}
