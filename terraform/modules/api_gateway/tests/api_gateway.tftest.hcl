mock_provider "aws" {}

variables {
  name                     = "fml-test"
  vpc_id                   = "vpc-00000000000000000"
  subnet_ids               = ["subnet-0000000000000000a", "subnet-0000000000000000b"]
  target_security_group_id = "sg-0000000000000000a"
  integrations = {
    trainer = {
      listener_arn = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:listener/app/fml-test/0123456789abcdef/0000000000000001"
      port         = 8081
      routes       = ["POST /models/{model}/train", "GET /models", "GET /training-jobs/{job_id}"]
    }
    predictor = {
      listener_arn = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:listener/app/fml-test/0123456789abcdef/0000000000000002"
      port         = 8080
      routes       = ["POST /models/{model}/predict", "GET /prediction-jobs/{job_id}"]
    }
  }
}

run "iam_authorized_routes_through_the_vpc_link" {
  command = plan

  # Known integration IDs at plan, to check which route goes where.
  override_resource {
    target          = aws_apigatewayv2_integration.this["trainer"]
    override_during = plan
    values          = { id = "trainer1" }
  }

  override_resource {
    target          = aws_apigatewayv2_integration.this["predictor"]
    override_during = plan
    values          = { id = "predict1" }
  }

  assert {
    condition     = aws_apigatewayv2_api.this.protocol_type == "HTTP"
    error_message = "The API must be an HTTP API."
  }

  assert {
    condition     = length(aws_apigatewayv2_route.this) == 5 && alltrue([for r in aws_apigatewayv2_route.this : r.authorization_type == "AWS_IAM"])
    error_message = "Every route must use IAM authorization by default."
  }

  assert {
    condition     = aws_apigatewayv2_route.this["POST /models/{model}/train"].target == "integrations/trainer1" && aws_apigatewayv2_route.this["GET /training-jobs/{job_id}"].target == "integrations/trainer1"
    error_message = "Trainer routes must go to the trainer integration."
  }

  assert {
    condition     = aws_apigatewayv2_route.this["POST /models/{model}/predict"].target == "integrations/predict1" && aws_apigatewayv2_route.this["GET /prediction-jobs/{job_id}"].target == "integrations/predict1"
    error_message = "Predictor routes must go to the predictor integration."
  }

  assert {
    condition = alltrue([
      for k, i in aws_apigatewayv2_integration.this :
      i.connection_type == "VPC_LINK" && i.integration_type == "HTTP_PROXY" && i.integration_uri == var.integrations[k].listener_arn
    ])
    error_message = "Integrations must reach the services' listeners through the VPC link."
  }

  assert {
    condition     = alltrue([for i in aws_apigatewayv2_integration.this : i.request_parameters == null && length(i.tls_config) == 0])
    error_message = "Integrations must pass requests on unmodified, without TLS to HTTP listeners."
  }

  assert {
    condition = (
      one(aws_apigatewayv2_stage.this.default_route_settings).throttling_rate_limit == 50
      && one(aws_apigatewayv2_stage.this.default_route_settings).throttling_burst_limit == 100
    )
    error_message = "The stage must throttle every route."
  }

  assert {
    condition     = aws_apigatewayv2_stage.this.name == "$default" && aws_apigatewayv2_stage.this.auto_deploy
    error_message = "The $default stage must deploy every change."
  }

  assert {
    condition     = jsondecode(one(aws_apigatewayv2_stage.this.access_log_settings).format).routeKey == "$context.routeKey"
    error_message = "The stage must write JSON access logs."
  }

  assert {
    condition     = [for r in aws_vpc_security_group_egress_rule.listeners : [r.from_port, r.referenced_security_group_id]] == [[8080, "sg-0000000000000000a"], [8081, "sg-0000000000000000a"]]
    error_message = "The VPC link may only reach the load balancer's listener ports."
  }

  assert {
    condition     = output.authorization_type == "AWS_IAM" && length(aws_apigatewayv2_authorizer.jwt) == 0
    error_message = "No JWT authorizer without jwt_authorizer."
  }
}

run "optional_jwt_authorizer_and_tls" {
  command = plan

  variables {
    jwt_authorizer = {
      issuer   = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_example"
      audience = ["fargate-ml"]
    }
    tls_server_name = "api.internal.example.com"
  }

  assert {
    condition     = alltrue([for r in aws_apigatewayv2_route.this : r.authorization_type == "JWT"])
    error_message = "With jwt_authorizer every route must use JWT."
  }

  assert {
    condition     = one(aws_apigatewayv2_authorizer.jwt[0].jwt_configuration).issuer == var.jwt_authorizer.issuer && aws_apigatewayv2_authorizer.jwt[0].identity_sources == toset(["$request.header.Authorization"])
    error_message = "The JWT authorizer must use the given issuer and the Authorization header."
  }

  assert {
    condition     = alltrue([for i in aws_apigatewayv2_integration.this : one(i.tls_config).server_name_to_verify == "api.internal.example.com"])
    error_message = "With tls_server_name the integrations must verify the listener's certificate."
  }
}

run "rejects_route_in_two_services" {
  command = plan

  variables {
    integrations = {
      trainer   = { listener_arn = "a", port = 8081, routes = ["GET /health"] }
      predictor = { listener_arn = "b", port = 8080, routes = ["GET /health"] }
    }
  }

  expect_failures = [var.integrations]
}

run "rejects_malformed_route" {
  command = plan

  variables {
    integrations = {
      trainer = { listener_arn = "a", port = 8081, routes = ["/models"] }
    }
  }

  expect_failures = [var.integrations]
}
