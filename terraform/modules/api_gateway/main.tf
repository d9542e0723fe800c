locals {
  # "METHOD /path" -> service whose integration serves it.
  routes = merge([
    for service, integration in var.integrations : { for route in integration.routes : route => service }
  ]...)

  authorization_type = var.jwt_authorizer == null ? "AWS_IAM" : "JWT"
}

resource "aws_apigatewayv2_api" "this" {
  name          = var.name
  protocol_type = "HTTP"
  description   = "fargate-ml HTTP API: routes to the services' internal load balancer through a VPC link"

  tags = var.tags
}

# ---------------------------------------------------------------------------- VPC link
resource "aws_security_group" "vpc_link" {
  name        = "${var.name}-vpc-link"
  description = "API Gateway VPC link ${var.name}: out to the internal load balancer's listeners only"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-vpc-link" })
}

resource "aws_vpc_security_group_egress_rule" "listeners" {
  for_each = var.integrations

  security_group_id            = aws_security_group.vpc_link.id
  description                  = "Listener of ${each.key} (port ${each.value.port})"
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  referenced_security_group_id = var.target_security_group_id
}

resource "aws_apigatewayv2_vpc_link" "this" {
  name               = var.name
  subnet_ids         = var.subnet_ids
  security_group_ids = [aws_security_group.vpc_link.id]

  tags = var.tags
}

# ---------------------------------------------------------------------------- integrations and routes
resource "aws_apigatewayv2_integration" "this" {
  for_each = var.integrations

  api_id                 = aws_apigatewayv2_api.this.id
  description            = "${each.key} service (load balancer listener on port ${each.value.port})"
  integration_type       = "HTTP_PROXY"
  integration_method     = "ANY"
  integration_uri        = each.value.listener_arn
  connection_type        = "VPC_LINK"
  connection_id          = aws_apigatewayv2_vpc_link.this.id
  payload_format_version = "1.0"
  timeout_milliseconds   = var.integration_timeout_milliseconds

  # Private integrations pass the request (path included) on unmodified. Without tls_config
  # API Gateway speaks HTTP to the listener; with it, HTTPS, verifying this server name.
  dynamic "tls_config" {
    for_each = var.tls_server_name == null ? [] : [var.tls_server_name]

    content {
      server_name_to_verify = tls_config.value
    }
  }
}

resource "aws_apigatewayv2_authorizer" "jwt" {
  count = var.jwt_authorizer == null ? 0 : 1

  api_id           = aws_apigatewayv2_api.this.id
  name             = "${var.name}-jwt"
  authorizer_type  = "JWT"
  identity_sources = [var.jwt_authorizer.identity_source]

  jwt_configuration {
    issuer   = var.jwt_authorizer.issuer
    audience = var.jwt_authorizer.audience
  }
}

resource "aws_apigatewayv2_route" "this" {
  for_each = local.routes

  api_id             = aws_apigatewayv2_api.this.id
  route_key          = each.key
  target             = "integrations/${aws_apigatewayv2_integration.this[each.value].id}"
  authorization_type = local.authorization_type
  authorizer_id      = local.authorization_type == "JWT" ? aws_apigatewayv2_authorizer.jwt[0].id : null
}

# ---------------------------------------------------------------------------- stage
resource "aws_cloudwatch_log_group" "access" {
  #checkov:skip=CKV_AWS_158:Access log lines hold request metadata (ids, routes, status, caller ARN), no payloads; CloudWatch Logs encrypts them at rest with a service key.
  #checkov:skip=CKV_AWS_338:Retention is the caller's choice (access_log_retention_days).
  name              = "/aws/apigateway/${var.name}"
  retention_in_days = var.access_log_retention_days

  tags = var.tags
}

resource "aws_apigatewayv2_stage" "this" {
  api_id      = aws_apigatewayv2_api.this.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_burst_limit   = var.throttling_burst_limit
    throttling_rate_limit    = var.throttling_rate_limit
    detailed_metrics_enabled = true
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      requestTime        = "$context.requestTime"
      sourceIp           = "$context.identity.sourceIp"
      caller             = "$context.identity.caller"
      userArn            = "$context.identity.userArn"
      httpMethod         = "$context.httpMethod"
      routeKey           = "$context.routeKey"
      path               = "$context.path"
      status             = "$context.status"
      protocol           = "$context.protocol"
      responseLength     = "$context.responseLength"
      responseLatency    = "$context.responseLatency"
      integrationStatus  = "$context.integrationStatus"
      integrationLatency = "$context.integrationLatency"
      integrationError   = "$context.integrationErrorMessage"
      authorizerError    = "$context.authorizer.error"
    })
  }

  tags = var.tags
}
