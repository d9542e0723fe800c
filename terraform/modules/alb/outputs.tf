output "arn" {
  description = "ARN of the load balancer."
  value       = aws_lb.this.arn
}

output "arn_suffix" {
  description = "ARN suffix of the load balancer (the LoadBalancer dimension of its metrics)."
  value       = aws_lb.this.arn_suffix
}

output "internal" {
  description = "Whether the load balancer is internal (always true: reached through the VPC link only)."
  value       = aws_lb.this.internal
}

output "idle_timeout_seconds" {
  description = "Idle timeout of the load balancer, in seconds."
  value       = aws_lb.this.idle_timeout
}

output "dns_name" {
  description = "DNS name of the internal load balancer (resolvable inside the VPC)."
  value       = aws_lb.this.dns_name
}

output "security_group_id" {
  description = "ID of the load balancer's security group (the services admit traffic from it)."
  value       = aws_security_group.this.id
}

output "listener_arns" {
  description = "Listener ARNs by service (API Gateway integrations point at them)."
  value       = { for k, l in aws_lb_listener.this : k => l.arn }
}

output "target_group_arns" {
  description = "Target group ARNs by service (ECS services register their tasks in them), known once the listeners forward to them."
  value       = { for k, tg in aws_lb_target_group.this : k => tg.arn }

  # ECS rejects a target group that no load balancer forwards to yet.
  depends_on = [aws_lb_listener.this]
}

output "request_count_resource_labels" {
  description = "ALBRequestCountPerTarget resource labels by service (app/<lb>/<id>/targetgroup/<tg>/<id>)."
  value       = { for k, tg in aws_lb_target_group.this : k => "${aws_lb.this.arn_suffix}/${tg.arn_suffix}" }
}

output "listener_protocol" {
  description = "Protocol of the listeners: HTTPS with a certificate, else HTTP."
  value       = local.protocol
}

output "urls" {
  description = "Base URLs of the services on the load balancer, by service (reachable inside the VPC)."
  value       = { for k, s in var.services : k => "${lower(local.protocol)}://${aws_lb.this.dns_name}:${s.port}" }
}

output "target_group_arn_suffixes" {
  description = "ARN suffixes of the target groups by service (CloudWatch's TargetGroup dimension)."
  value       = { for k, tg in aws_lb_target_group.this : k => tg.arn_suffix }
}
