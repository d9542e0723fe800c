mock_provider "aws" {}

variables {
  name = "fml-test/trainer"
}

run "defaults" {
  command = plan

  assert {
    condition     = aws_ecr_repository.this.name == var.name
    error_message = "The repository name must come from var.name."
  }

  assert {
    condition     = one(aws_ecr_repository.this.image_scanning_configuration).scan_on_push
    error_message = "Images must be scanned on push."
  }

  assert {
    condition     = aws_ecr_repository.this.image_tag_mutability == "IMMUTABLE"
    error_message = "Tags must be immutable by default."
  }

  assert {
    condition     = one(aws_ecr_repository.this.encryption_configuration).encryption_type == "KMS"
    error_message = "Images must be encrypted with KMS."
  }

  assert {
    condition     = aws_ecr_repository.this.force_delete == false
    error_message = "force_delete must default to false."
  }
}

run "lifecycle_policy" {
  command = plan

  variables {
    max_image_count = 10
  }

  assert {
    condition     = aws_ecr_lifecycle_policy.this.repository == var.name
    error_message = "The lifecycle policy must be set on the repository."
  }

  assert {
    condition = anytrue([
      for r in jsondecode(aws_ecr_lifecycle_policy.this.policy).rules :
      r.selection.countType == "imageCountMoreThan" && r.selection.countNumber == 10 && r.action.type == "expire"
    ])
    error_message = "Images beyond max_image_count must expire."
  }

  assert {
    condition = anytrue([
      for r in jsondecode(aws_ecr_lifecycle_policy.this.policy).rules :
      r.selection.tagStatus == "untagged" && r.selection.countNumber == 7
    ])
    error_message = "Untagged images must expire after 7 days by default."
  }
}

run "rejects_uppercase_name" {
  command = plan

  variables {
    name = "Trainer"
  }

  expect_failures = [var.name]
}
