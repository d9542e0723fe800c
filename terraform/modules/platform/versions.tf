# Both env roots call this module and nothing else of the data plane: its pin is theirs, said
# once (the other modules require >= 5.60). docs/terraform.md says why no lock file is kept.
terraform {
  required_version = ">= 1.7"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100.0"
    }
  }
}
