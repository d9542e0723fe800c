mock_provider "aws" {}

variables {
  name           = "fml-test"
  vpc_id         = "vpc-00000000000000000"
  vpc_cidr_block = "10.40.0.0/16"
  subnet_ids     = ["subnet-0000000000000000a", "subnet-0000000000000000b"]
  services = {
    trainer   = { port = 8081 }
    predictor = { port = 8080 }
  }
  ingress_security_group_ids = ["sg-0000000000000000a"]
}

run "internal_http_by_default" {
  command = plan

  assert {
    condition     = aws_lb.this.internal && aws_lb.this.load_balancer_type == "application"
    error_message = "The load balancer must be an internal ALB."
  }

  assert {
    condition     = aws_lb.this.idle_timeout == 60
    error_message = "The idle timeout must default to 60 s (>= API Gateway's 30 s, hence >= the synchronous training budget; < gunicorn's 75 s keep-alive)."
  }

  assert {
    condition     = aws_lb.this.drop_invalid_header_fields
    error_message = "Invalid header fields must be dropped."
  }

  assert {
    condition     = keys(aws_lb_listener.this) == ["predictor", "trainer"] && aws_lb_listener.this["trainer"].port == 8081 && aws_lb_listener.this["predictor"].port == 8080
    error_message = "There must be one listener per service on the service's port."
  }

  assert {
    condition     = alltrue([for l in aws_lb_listener.this : l.protocol == "HTTP" && l.certificate_arn == null])
    error_message = "Without a certificate the listeners must be plain HTTP."
  }

  assert {
    condition = alltrue([
      for k, tg in aws_lb_target_group.this :
      tg.target_type == "ip" && tg.port == var.services[k].port && one(tg.health_check).path == "/health" && one(tg.health_check).matcher == "200"
    ])
    error_message = "Target groups must register task IPs on the service port and check GET /health."
  }

  assert {
    condition     = aws_lb_target_group.this["trainer"].name == "fml-test-trainer"
    error_message = "Target groups must be named <name>-<service>."
  }

  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.listener) == 2 && alltrue([for r in aws_vpc_security_group_ingress_rule.listener : r.referenced_security_group_id == "sg-0000000000000000a" && r.cidr_ipv4 == null])
    error_message = "Only the given security groups may reach the listeners."
  }

  assert {
    condition     = alltrue([for r in aws_vpc_security_group_egress_rule.targets : r.cidr_ipv4 == var.vpc_cidr_block])
    error_message = "The ALB may only reach targets inside the VPC."
  }

  assert {
    condition     = output.listener_protocol == "HTTP"
    error_message = "listener_protocol must say HTTP."
  }
}

run "https_with_certificate" {
  command = plan

  variables {
    certificate_arn = "arn:aws:acm:us-east-1:111122223333:certificate/00000000-0000-0000-0000-000000000000"
  }

  assert {
    condition     = alltrue([for l in aws_lb_listener.this : l.protocol == "HTTPS" && l.certificate_arn == var.certificate_arn && l.ssl_policy == "ELBSecurityPolicy-TLS13-1-2-2021-06"])
    error_message = "With a certificate every listener must use HTTPS and a TLS 1.2+ policy."
  }
}

run "rejects_short_idle_timeout" {
  command = plan

  variables {
    idle_timeout_seconds = 20
  }

  expect_failures = [var.idle_timeout_seconds]
}

run "rejects_shared_ports" {
  command = plan

  variables {
    services = {
      trainer   = { port = 8080 }
      predictor = { port = 8080 }
    }
  }

  expect_failures = [var.services]
}

run "rejects_long_target_group_names" {
  command = plan

  variables {
    name = "a-rather-long-load-balancer-name"
  }

  expect_failures = [aws_lb_target_group.this]
}
