mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  name       = "fml-test"
  cidr_block = "10.40.0.0/16"
  azs        = ["us-east-1a", "us-east-1b"]
}

run "two_azs_private_by_default" {
  command = plan

  # Known IDs at plan, so the sets that hold them have a known size.
  override_resource {
    target          = aws_route_table.private["us-east-1a"]
    override_during = plan
    values          = { id = "rtb-0000000000000000a" }
  }

  override_resource {
    target          = aws_route_table.private["us-east-1b"]
    override_during = plan
    values          = { id = "rtb-0000000000000000b" }
  }

  override_resource {
    target          = aws_subnet.private["us-east-1a"]
    override_during = plan
    values          = { id = "subnet-0000000000000000a" }
  }

  override_resource {
    target          = aws_subnet.private["us-east-1b"]
    override_during = plan
    values          = { id = "subnet-0000000000000000b" }
  }

  assert {
    condition     = length(aws_subnet.public) == 2 && length(aws_subnet.private) == 2
    error_message = "There must be one public and one private subnet per AZ."
  }

  assert {
    condition     = toset([for s in aws_subnet.private : s.availability_zone]) == toset(var.azs)
    error_message = "The private subnets must span every given AZ."
  }

  assert {
    condition = length(distinct(concat(
      [for s in aws_subnet.public : s.cidr_block], [for s in aws_subnet.private : s.cidr_block]
    ))) == 4
    error_message = "Subnet CIDRs must not repeat."
  }

  assert {
    condition     = aws_subnet.private["us-east-1a"].cidr_block == "10.40.16.0/20" && aws_subnet.public["us-east-1b"].cidr_block == "10.40.1.0/24"
    error_message = "Private subnets must be /20s after the first, public subnets /24s in the first /20."
  }

  assert {
    condition     = alltrue([for s in concat(values(aws_subnet.public), values(aws_subnet.private)) : s.map_public_ip_on_launch == false])
    error_message = "No subnet may hand out public IPs on launch."
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 0 && length(aws_route.private_nat) == 0 && length(aws_eip.nat) == 0
    error_message = "Without NAT, the private subnets must have no internet route."
  }

  assert {
    condition     = aws_vpc_endpoint.s3.vpc_endpoint_type == "Gateway" && aws_vpc_endpoint.s3.service_name == "com.amazonaws.us-east-1.s3"
    error_message = "S3 must be reached through a gateway endpoint."
  }

  assert {
    condition     = length(aws_vpc_endpoint.s3.route_table_ids) == 2
    error_message = "The S3 gateway endpoint must be attached to every private route table."
  }

  assert {
    condition     = toset(keys(aws_vpc_endpoint.interface)) == toset(["sqs", "ecr.api", "ecr.dkr", "logs", "sts"])
    error_message = "SQS, ECR (api, dkr), CloudWatch Logs and STS must have interface endpoints."
  }

  assert {
    condition = alltrue([
      for ep in aws_vpc_endpoint.interface :
      ep.vpc_endpoint_type == "Interface" && ep.private_dns_enabled && length(ep.subnet_ids) == 2
    ])
    error_message = "Interface endpoints must use private DNS and sit in every private subnet."
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.endpoints_https.from_port == 443 && aws_vpc_security_group_ingress_rule.endpoints_https.cidr_ipv4 == "10.40.0.0/16"
    error_message = "The endpoints must accept HTTPS from the VPC only."
  }

  assert {
    condition     = length(aws_default_security_group.this.ingress) == 0 && length(aws_default_security_group.this.egress) == 0
    error_message = "The default security group must allow nothing."
  }

  assert {
    condition     = aws_flow_log.this.log_destination_type == "cloud-watch-logs" && aws_flow_log.this.traffic_type == "REJECT"
    error_message = "VPC flow logs (rejected traffic) must go to CloudWatch Logs."
  }
}

run "single_nat_gateway" {
  command = plan

  variables {
    nat_gateway = "single"
  }

  assert {
    condition     = keys(aws_nat_gateway.this) == ["us-east-1a"]
    error_message = "single must create one NAT gateway, in the first AZ."
  }

  assert {
    condition     = length(aws_route.private_nat) == 2 && alltrue([for r in aws_route.private_nat : r.destination_cidr_block == "0.0.0.0/0"])
    error_message = "Every private route table must send internet traffic to the NAT gateway."
  }
}

run "nat_gateway_per_az" {
  command = plan

  variables {
    nat_gateway = "per_az"
    azs         = ["us-east-1a", "us-east-1b", "us-east-1c"]
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 3 && length(aws_eip.nat) == 3 && length(aws_route.private_nat) == 3
    error_message = "per_az must create one NAT gateway (and route) per AZ."
  }
}

run "rejects_single_az" {
  command = plan

  variables {
    azs = ["us-east-1a"]
  }

  expect_failures = [var.azs]
}

run "rejects_unknown_nat_mode" {
  command = plan

  variables {
    nat_gateway = "two"
  }

  expect_failures = [var.nat_gateway]
}
