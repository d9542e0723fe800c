locals {
  https    = var.certificate_arn != null
  protocol = local.https ? "HTTPS" : "HTTP"

  # One ingress rule per (listener, allowed source security group), keyed by position: the
  # group IDs may only be known after apply.
  ingress = {
    for pair in setproduct(keys(var.services), range(length(var.ingress_security_group_ids))) :
    "${pair[0]}-${pair[1]}" => { port = var.services[pair[0]].port, source = var.ingress_security_group_ids[pair[1]] }
  }
}

resource "aws_security_group" "this" {
  name        = "${var.name}-alb"
  description = "Internal ALB ${var.name}: listeners open to the given security groups, targets in the VPC"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-alb" })
}

resource "aws_vpc_security_group_ingress_rule" "listener" {
  for_each = local.ingress

  security_group_id            = aws_security_group.this.id
  description                  = "Listener ${each.value.port} from an allowed security group"
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  referenced_security_group_id = each.value.source
}

resource "aws_vpc_security_group_egress_rule" "targets" {
  for_each = var.services

  security_group_id = aws_security_group.this.id
  description       = "Targets of ${each.key} (port ${each.value.port}) in the VPC"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = var.vpc_cidr_block
}

resource "aws_lb" "this" {
  #checkov:skip=CKV2_AWS_28:The ALB is internal and reached only through API Gateway (IAM-authorised, throttled) over a VPC link; a WAF belongs in front of a public entry point.
  #checkov:skip=CKV_AWS_150:The ALB holds no state and is recreated by apply in minutes; deletion protection is a variable (deletion_protection) so that a dev stack can be destroyed.
  #checkov:skip=CKV_AWS_91:Access logs are optional (access_logs_bucket): every request is already logged by the API Gateway stage's access log, and an ALB log bucket needs its own ELB bucket policy.
  name                       = var.name
  internal                   = true
  load_balancer_type         = "application"
  subnets                    = var.subnet_ids
  security_groups            = [aws_security_group.this.id]
  idle_timeout               = var.idle_timeout_seconds
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection

  dynamic "access_logs" {
    for_each = var.access_logs_bucket == null ? [] : [var.access_logs_bucket]

    content {
      bucket  = access_logs.value
      prefix  = var.name
      enabled = true
    }
  }

  tags = var.tags
}

resource "aws_lb_target_group" "this" {
  #checkov:skip=CKV_AWS_378:TLS ends at the ALB (or API Gateway); the hop to the task stays inside the VPC, between security groups that admit only the ALB.
  for_each = var.services

  name                 = "${var.name}-${each.key}"
  target_type          = "ip" # awsvpc tasks register their ENI addresses
  protocol             = "HTTP"
  port                 = each.value.port
  vpc_id               = var.vpc_id
  deregistration_delay = each.value.deregistration_delay_seconds

  health_check {
    enabled             = true
    path                = each.value.health_check_path
    matcher             = "200"
    protocol            = "HTTP"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = length("${var.name}-${each.key}") <= 32
      error_message = "Target group names (\"<name>-<service>\") must be at most 32 characters: shorten var.name or the service key."
    }
  }
}

resource "aws_lb_listener" "this" {
  #checkov:skip=CKV_AWS_2:HTTPS is used when certificate_arn is set; without it the listener is plain HTTP inside the VPC, behind API Gateway's TLS endpoint and VPC link.
  #checkov:skip=CKV_AWS_103:The TLS policy (ssl_policy, TLS 1.2+ by default) applies when certificate_arn is set; an HTTP listener has none.
  for_each = var.services

  load_balancer_arn = aws_lb.this.arn
  port              = each.value.port
  protocol          = local.protocol
  ssl_policy        = local.https ? var.ssl_policy : null
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this[each.key].arn
  }

  tags = var.tags
}
