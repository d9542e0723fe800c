"""AWS Lambda handlers of fargate-ml."""
